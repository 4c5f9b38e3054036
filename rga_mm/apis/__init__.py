from .checkpoints import (CheckpointError, check_checkpoint_fits, check_checkpoint_keys,
                          check_checkpoint_shapes, check_resumable, load_state_dict_file,
                          model_of, read_checkpoint, state_dict_of)
from .inference import init_model

__all__ = [
    'CheckpointError', 'check_checkpoint_fits', 'check_checkpoint_keys',
    'check_checkpoint_shapes', 'check_resumable', 'init_model', 'load_state_dict_file',
    'model_of', 'read_checkpoint', 'state_dict_of'
]
