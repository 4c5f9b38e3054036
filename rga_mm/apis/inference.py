"""Building a model from an rga_mm config and loading its weights."""
import copy
import logging
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import load_state_dict
from torch import nn

from rga_mm.engine.launch import PYTHON_OPTION, load_config, merge_cfg_options
from rga_mm.errors import ConfigError
from rga_mm.models.segmentor_checks import check_segmentor
from rga_mm.registry import MODELS
from rga_mm.unregistered_type import unregistered_type_message
from .checkpoints import (
    check_checkpoint_fits,
    partial_load_note,
    read_checkpoint,
    state_dict_of,
)


def as_config(config: str | Path | Config) -> Config:
    """A copy of a loaded Config (what is merged into it stays out of the caller's), or the
    config file at a path loaded."""
    if isinstance(config, (str, Path)):
        return load_config(config)
    if isinstance(config, Config):
        return copy.deepcopy(config)
    raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')


# device type → (name in messages, expression in messages, availability check)
ACCELERATORS = {
    'cuda': ('CUDA', 'torch.cuda.is_available()', lambda: torch.cuda.is_available()),
    'mps': ('MPS', 'torch.backends.mps.is_available()',
            lambda: torch.backends.mps.is_available()),
    'xpu': ('XPU', 'torch.xpu.is_available()',
            lambda: hasattr(torch, 'xpu') and torch.xpu.is_available()),
}


def check_device(device: str | torch.device) -> None:
    """Refuse, in one sentence, a device string torch cannot parse or an accelerator
    (CUDA, MPS, XPU) this PyTorch does not see."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a device PyTorch knows: give e.g. 'cpu', "
                         f"'cuda' or 'cuda:0'") from None
    if parsed.type in ACCELERATORS:
        name, expression, available = ACCELERATORS[parsed.type]
        if not available():
            raise ValueError(f'device {device} asked for, but this PyTorch sees no {name} '
                             f'device ({expression} is False): use cpu')


def init_model(config: str | Path | Config,
               checkpoint: str | None = None,
               device: str = 'cpu',
               cfg_options: dict | None = None,
               strict: bool = True) -> nn.Module:
    """Build ``config.model``, check it (a segmentor's heads and ``test_cfg``:
    :func:`rga_mm.models.segmentor_checks.check_segmentor`) and load ``checkpoint`` into it.

    Checkpoints are read with ``torch.load(weights_only=True)``: weights from elsewhere
    cannot run pickled code. The returned model is in eval mode on ``device`` and carries
    the config as ``model.cfg`` and, where the checkpoint's ``meta`` has it (as the
    Runner's checkpoints do), the ``dataset_meta`` (classes, palette) that mmseg's and
    mmpretrain's visualisation helpers read, as their own ``init_model`` sets it.

    Args:
        config: a config file path or a loaded :class:`mmengine.Config`.
        checkpoint: path of a checkpoint (``{'state_dict': ...}`` or a bare state dict).
        device: where to put the model, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options: overrides merged into the config, as ``--cfg-options`` does; an
            unknown top-level key (a typo) is refused.
        strict: refuse a checkpoint whose tensor names or shapes differ from the model's
            (:class:`rga_mm.apis.CheckpointError`); with ``False`` only the matching tensors
            are loaded and one warning line sums up the others
            (:func:`~rga_mm.apis.checkpoints.partial_load_note`).
    """
    check_device(device)
    config = as_config(config)
    merge_cfg_options(config, cfg_options, option=PYTHON_OPTION)
    if not isinstance(config.get('model'), dict):
        name = f' {config.filename}' if config.filename else ''
        raise ConfigError(f'the config{name} has no model to build: it needs '
                          f'model=dict(type=..., ...)')
    if config.get('data_preprocessor') is not None:  # top level, merged as the Runner does
        config.model.setdefault('data_preprocessor', config.data_preprocessor)
    init_default_scope(config.get('default_scope', 'rga_mm'))
    try:
        model = MODELS.build(config.model)
    except KeyError as error:  # a type no registry holds: one sentence, no traceback
        message = unregistered_type_message(error)
        if message is None:
            raise
        raise ConfigError(message) from error
    check_segmentor(model)
    if checkpoint is not None:
        saved = read_checkpoint(checkpoint)
        state_dict = state_dict_of(saved)
        check_checkpoint_fits(model, state_dict, checkpoint, strict=strict)
        note = None if strict else partial_load_note(model, state_dict, checkpoint)
        # mismatches are refused above or summed up in the note: mmengine's list of every
        # key would repeat them at length
        load_state_dict(model, state_dict, strict=False, logger='silent')
        if note is not None:
            print_log(note, logger='current', level=logging.WARNING)
        dataset_meta = (saved.get('meta') or {}).get('dataset_meta')
        if dataset_meta:
            model.dataset_meta = dataset_meta
    model.cfg = config
    return model.to(device).eval()
