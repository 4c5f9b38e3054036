"""The re-ID data pipelines of paper §4.1, for code that builds datasets without a config.

There is one statement of them: the config base ``configs/_base_/datasets/reid_256x128.py``,
which every re-ID config trains and tests with. ``TRAIN_PIPELINE``, ``TEST_PIPELINE`` and
``REID_META_KEYS`` are read from it when first used (``configs/`` of the installed package,
``rga_mm/.mim/configs``, else of the checkout) and every use gets a fresh copy. For another
input size, write a config (configs/reid/README.md).

Normalisation is not here: the model's data preprocessor does it (ImageNet mean / std,
``to_rgb=True``). mmcv's transforms live in mmengine's root registry and the others carry
their scope, so the lists work under any ``default_scope``; ``rga_mm.LoadImageFromFile`` is
mmcv's loading step with errors that name the unreadable file. docs/reid.md ("Differences
from the official RGA code") compares them with the official RGA transforms.
"""
import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmengine.config import Config

from rga_mm.package_files import MIM_ROOTS, find_package_file

#: folders searched for the configs, in order: installed package, checkout
CONFIG_DIRS = tuple(root / 'configs' for root in MIM_ROOTS)
#: the config base that states the re-ID pipelines, relative to a folder of CONFIG_DIRS
PIPELINES_CONFIG = '_base_/datasets/reid_256x128.py'
_NAMES = ('TRAIN_PIPELINE', 'TEST_PIPELINE', 'REID_META_KEYS')


def pipelines_config_path() -> Path:
    """The config base the pipelines come from (module docstring)."""
    return find_package_file(PIPELINES_CONFIG, CONFIG_DIRS, 'rga_mm reads the re-ID pipelines '
                             'from a config base', 'reinstall rga_mm')


@lru_cache(maxsize=None)
def _read(path: Path) -> dict[str, Any]:
    cfg = Config.fromfile(str(path))
    pack = next(step for step in cfg.test_pipeline if step['type'].endswith('PackInputs'))
    return dict(TRAIN_PIPELINE=cfg.to_dict()['train_pipeline'],
                TEST_PIPELINE=cfg.to_dict()['test_pipeline'],
                REID_META_KEYS=tuple(pack['meta_keys']))


def __getattr__(name: str) -> Any:
    """``TRAIN_PIPELINE``, ``TEST_PIPELINE`` (lists of transform configs) and
    ``REID_META_KEYS`` (the metainfo packed into each mmpretrain DataSample; identity goes
    to ``gt_label``), read from the config base."""
    if name in _NAMES:
        return copy.deepcopy(_read(pipelines_config_path())[name])
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
