"""Loading a config file, with one clear sentence when it needs the segmentation extra.

rga_mm's core (the RGA family, re-ID, CIFAR, the tools) runs on mmcv-lite. Segmentation
configs are mmsegmentation configs, and mmsegmentation imports mmcv's compiled ops, so they
need ``pip install 'rga_mm[seg]'``. Without it mmengine fails deep inside a base lookup or a
registry import; this module names the extra instead.
"""
import importlib
from pathlib import Path
from typing import Any, Union

from mmengine.config import Config

SEGMENTATION_EXTRA = ("pip install 'rga_mm[seg]' (mmsegmentation and mmcv with its compiled "
                      "ops; in a checkout: bash tools/misc/ensure_env.sh full)")


def segmentation_unavailable() -> str:
    """Why mmsegmentation cannot be imported here, or '' when it can."""
    try:
        importlib.import_module('mmseg')
        importlib.import_module('mmcv.ops')
    except ImportError as error:  # also mmcv.ops' failure to load mmcv._ext
        return f'{type(error).__name__}: {error}'
    return ''


def require_segmentation(what: str) -> None:
    """Raise one sentence naming the ``seg`` extra when mmsegmentation is unusable."""
    reason = segmentation_unavailable()
    if reason:
        raise ImportError(f'{what} needs mmsegmentation, which cannot be imported here '
                          f'({reason}); install the segmentation extra: {SEGMENTATION_EXTRA}')


def mentions_mmseg(node: Any) -> bool:
    """Whether a config (or any part of it) builds something from mmseg's registries."""
    if isinstance(node, str):
        return node == 'mmseg' or node.startswith('mmseg.')
    if isinstance(node, dict):
        return any(mentions_mmseg(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return any(mentions_mmseg(value) for value in node)
    return False


def load_config(path: Union[str, Path]) -> Config:
    """``Config.fromfile(path)``, refusing a missing file or a missing ``seg`` extra."""
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f'config file {path} does not exist')
    try:
        cfg = Config.fromfile(path)
    except Exception as error:
        if 'mmseg' in str(error):  # an ``mmseg::`` base that cannot be resolved
            require_segmentation(f'the config {path}')
        raise
    if mentions_mmseg(cfg.to_dict()):
        require_segmentation(f'the config {path}')
    return cfg
