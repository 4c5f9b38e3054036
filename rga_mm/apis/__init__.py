from rga_mm.models.unwrap import model_of
from .checkpoints import (
    CheckpointError,
    check_checkpoint_file,
    check_checkpoint_fits,
    check_checkpoint_keys,
    check_checkpoint_shapes,
    check_resumable,
    load_state_dict_file,
    read_checkpoint,
    state_dict_of,
)
from .inference import init_model
from .inferencer import ReIDInferencer
from .model_index import get_model, list_models, model_config

__all__ = [
    'CheckpointError', 'ReIDInferencer', 'check_checkpoint_file', 'check_checkpoint_fits',
    'check_checkpoint_keys', 'check_checkpoint_shapes', 'check_resumable', 'get_model',
    'init_model', 'list_models', 'load_state_dict_file', 'model_config', 'model_of',
    'read_checkpoint', 'state_dict_of'
]
