"""A tiny Cityscapes tree in mmseg's real layout and file suffixes, and a config on it: the
PSPNet R101-d8 + RGA-SC config shrunk to ResNet-18 and 64×64 crops (paper §4.2). Shared by the
segmentation tool tests (importable from this folder, which pytest puts on ``sys.path``)."""
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'

TINY_CONFIG = '''
_base_ = ['{config}']
bn = dict(type='BN', requires_grad=True)
data_root = '{data_root}'
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, norm_cfg=bn),
    neck=dict(in_channels=512, spatial_size=(5, 5), norm_cfg=bn),
    decode_head=dict(in_channels=1024, channels=16, norm_cfg=bn),
    auxiliary_head=dict(in_channels=256, channels=8, norm_cfg=bn))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=(64, 64), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, **loader,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
custom_hooks = [dict(type='rga_mm.AttentionVisualizationHook', interval=2, num_images=1,
                     panel_height=32)]  # iterations: the loop is iteration-based
# mmseg names its visualizer 'visualizer', and a process keeps one instance per name: a second
# Runner in the same test process would log into the first one's (deleted) folder
visualizer = dict(name='{visualizer}')
'''


def write_tiny_cityscapes(root: Path, height: int = 64, width: int = 128) -> None:
    """Two train and two val images of one city, with labelTrainIds in 0-18 and 255."""
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for index in range(2):
            stem = f'tinycity_{index:06d}_000019'
            image_dir = root / 'leftImg8bit' / split / 'tinycity'
            label_dir = root / 'gtFine' / split / 'tinycity'
            image_dir.mkdir(parents=True, exist_ok=True)
            label_dir.mkdir(parents=True, exist_ok=True)
            labels = rng.integers(0, 19, (height // 16, width // 16), dtype=np.uint8)
            labels = labels.repeat(16, 0).repeat(16, 1)
            labels[:4] = 255  # the ignored ego-vehicle band
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            image[..., 0] = labels * 12  # make the classes learnable from colour
            Image.fromarray(image).save(image_dir / f'{stem}_leftImg8bit.png')
            Image.fromarray(labels).save(label_dir / f'{stem}_gtFine_labelTrainIds.png')


def write_tiny_setup(tmp_path: Path) -> tuple[Path, Path]:
    """(data root, config): a tiny Cityscapes tree under ``tmp_path/cityscapes`` and
    ``TINY_CONFIG`` on it (the ResNet-18 PSPNet + RGA-SC) written next to it."""
    data_root = tmp_path / 'cityscapes'
    write_tiny_cityscapes(data_root)
    config = tmp_path / 'pspnet_r18-d8_rga-sc_tiny-cityscapes.py'
    config.write_text(TINY_CONFIG.format(config=CONFIG, data_root=data_root,
                                         visualizer=f'visualizer-{tmp_path.name}'))
    return data_root, config
