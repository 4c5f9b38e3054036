"""Person re-ID datasets (paper §4.1), the P × K identity sampler and the re-ID pipelines."""
from typing import Any

from rga_mm.errors import DatasetError
from . import pipelines
from .cifar import CIFAR10, CIFAR100
from .cuhk03 import CUHK03
from .custom_annotations import CustomReIDAnnotations
from .custom_folders import CustomReIDFolders
from .dukemtmc import DukeMTMCReID
from .market1501 import Market1501
from .msmt17 import MSMT17
from .reid_dataset import ReIDDataset
from .samplers import IdentityBatchSampler
from .transforms import IMAGENET_MEAN_BGR, ReIDRandomErasing

__all__ = [
    'CIFAR10', 'CIFAR100', 'CUHK03', 'CustomReIDAnnotations', 'CustomReIDFolders', 'DatasetError',
    'DukeMTMCReID',
    'IMAGENET_MEAN_BGR', 'IdentityBatchSampler', 'MSMT17', 'Market1501', 'REID_META_KEYS',
    'ReIDDataset', 'ReIDRandomErasing', 'TEST_PIPELINE', 'TRAIN_PIPELINE'
]


def __getattr__(name: str) -> Any:
    """``TRAIN_PIPELINE``, ``TEST_PIPELINE`` and ``REID_META_KEYS`` come from the re-ID
    config base when first used (:mod:`rga_mm.datasets.pipelines`)."""
    if name in ('TRAIN_PIPELINE', 'TEST_PIPELINE', 'REID_META_KEYS'):
        return getattr(pipelines, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
