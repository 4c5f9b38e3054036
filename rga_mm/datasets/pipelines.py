"""The re-ID data pipelines of paper §4.1, as config lists.

Normalisation is not here: the model's data preprocessor does it (ImageNet mean / std,
``to_rgb=True``), e.g. ``data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)``.
mmcv's transforms live in mmengine's root registry and the others carry their scope, so
the lists work under any ``default_scope``; ``rga_mm.LoadImageFromFile`` is mmcv's loading
step with errors that name the unreadable file. The README ("Differences from the official
RGA code") compares them with the official RGA transforms.
"""
from typing import List

from .transforms import IMAGENET_MEAN_BGR

# metainfo packed into each mmpretrain DataSample (identity goes to gt_label)
REID_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip',
                  'flip_direction', 'camera_id', 'is_query')


def reid_train_pipeline(height: int = 256, width: int = 128) -> List[dict]:
    """Load → resize to (height, width) → horizontal flip (p = 0.5) → with p = 0.5, pad by
    1/16 of the size on every side (×1.125, black) and crop back at a random offset →
    random erasing (p = 0.5, area 0.02-0.4, aspect ≥ 0.3, 0 after normalisation) → pack."""
    return [
        dict(type='rga_mm.LoadImageFromFile'),
        dict(type='Resize', scale=(width, height), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomApply', prob=0.5, transforms=[
            dict(type='mmpretrain.RandomCrop', crop_size=(height, width),
                 padding=(width // 16, height // 16), pad_val=0)]),
        dict(type='rga_mm.ReIDRandomErasing', prob=0.5, area_range=(0.02, 0.4),
             min_aspect=0.3, fill=IMAGENET_MEAN_BGR),
        dict(type='mmpretrain.PackInputs', meta_keys=REID_META_KEYS),
    ]


def reid_test_pipeline(height: int = 256, width: int = 128) -> List[dict]:
    """Load → resize to (height, width) → pack (no flip, no crop)."""
    return [
        dict(type='rga_mm.LoadImageFromFile'),
        dict(type='Resize', scale=(width, height), keep_ratio=False),
        dict(type='mmpretrain.PackInputs', meta_keys=REID_META_KEYS),
    ]


TRAIN_PIPELINE = reid_train_pipeline()
TEST_PIPELINE = reid_test_pipeline()
