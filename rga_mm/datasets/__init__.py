"""Person re-ID datasets (paper §4.1), the P × K identity sampler and the re-ID pipelines."""
from .cifar import CIFAR10, CIFAR100
from .cuhk03 import CUHK03
from .custom_annotations import CustomReIDAnnotations
from .custom_folders import CustomReIDFolders
from .dukemtmc import DukeMTMCReID
from .market1501 import Market1501
from .msmt17 import MSMT17
from .pipelines import (REID_META_KEYS, TEST_PIPELINE, TRAIN_PIPELINE, reid_test_pipeline,
                        reid_train_pipeline)
from .reid_dataset import ReIDDataset
from .samplers import IdentityBatchSampler
from .transforms import IMAGENET_MEAN_BGR, ReIDRandomErasing

__all__ = [
    'CUHK03', 'CustomReIDAnnotations', 'CustomReIDFolders', 'DukeMTMCReID',
    'IMAGENET_MEAN_BGR', 'IdentityBatchSampler', 'MSMT17', 'Market1501', 'REID_META_KEYS',
    'ReIDDataset', 'ReIDRandomErasing', 'TEST_PIPELINE', 'TRAIN_PIPELINE',
    'reid_test_pipeline', 'reid_train_pipeline'
]
