"""Building a model from an rga_mm config and loading its weights."""
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_state_dict
from torch import nn

from rga_mm.registry import MODELS
from rga_mm.utils.config_loader import load_config


def _load_config(config: Union[str, Path, Config]) -> Config:
    if isinstance(config, (str, Path)):
        return load_config(config)
    if isinstance(config, Config):
        return config
    raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')


def check_checkpoint_shapes(model: nn.Module, state_dict: dict) -> None:
    """Raise naming the first tensor whose shape differs between checkpoint and model."""
    expected = model.state_dict()
    for key, value in state_dict.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f'checkpoint tensor {key!r} has shape {tuple(value.shape)} but the model built '
                f'from the config expects {tuple(expected[key].shape)}; the checkpoint was '
                f'trained with another configuration (input size, number of classes, ...)')


def load_state_dict_file(checkpoint: str) -> dict:
    """The state dict of a checkpoint file, read with ``torch.load(weights_only=True)``.

    Accepts ``{'state_dict': ...}`` or a bare state dict; a ``module.`` prefix (saved from
    a data-parallel wrapper) is removed.
    """
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint file {checkpoint} does not exist')
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state_dict = state.get('state_dict', state)
    return {k.removeprefix('module.'): v for k, v in state_dict.items()}


def init_model(config: Union[str, Path, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build ``config.model`` and load ``checkpoint`` into it.

    Checkpoints are read with ``torch.load(weights_only=True)``: weights from elsewhere
    cannot run pickled code. The returned model is in eval mode on ``device`` and carries
    the config as ``model.cfg``.

    Args:
        config: a config file path or a loaded :class:`mmengine.Config`.
        checkpoint: path of a checkpoint (``{'state_dict': ...}`` or a bare state dict).
        device: where to put the model, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options: overrides merged into the config, as ``--cfg-options`` does.
    """
    config = _load_config(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'rga_mm'))
    model = MODELS.build(config.model)
    if checkpoint is not None:
        state_dict = load_state_dict_file(checkpoint)
        check_checkpoint_shapes(model, state_dict)
        load_state_dict(model, state_dict, strict=False)
    model.cfg = config
    return model.to(device).eval()
