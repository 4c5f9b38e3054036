"""Re-ID data at 256×128 (paper §4.1.1), shared by every re-ID dataset config.

Training: resize, horizontal flip, with p = 0.5 pad by 1/16 of the size on every side
(×1.125) and random crop back, random erasing (p = 0.5, area 0.02-0.4, aspect ≥ 0.3, the
ImageNet mean = 0 after the model's normalisation); batches of 16 identities × 4 images
(IdentityBatchSampler). Evaluation: query then gallery images of split='test', cosine
distance, no re-ranking. The dataset configs fill in ``type`` and ``data_root``.
Every size below follows from ``input_size`` (../reid_input_size.py). This base reads it
and does not carry it on: the model bases do, and mmengine refuses a key that two bases of
one config both carry.
"""
_base_ = ['../reid_input_size.py']
__height, __width = _base_.pop('input_size')
__meta_keys = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip', 'flip_direction',
               'camera_id', 'is_query')
train_pipeline = [
    dict(type='rga_mm.LoadImageFromFile'),  # mmcv's, naming unreadable files
    dict(type='Resize', scale=(__width, __height), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='mmpretrain.RandomCrop', crop_size=(__height, __width),
             padding=(__width // 16, __height // 16), pad_val=0)]),
    dict(type='rga_mm.ReIDRandomErasing', prob=0.5, area_range=(0.02, 0.4), min_aspect=0.3,
         fill=(103.53, 116.28, 123.675)),
    dict(type='mmpretrain.PackInputs', meta_keys=__meta_keys),
]
test_pipeline = [
    dict(type='rga_mm.LoadImageFromFile'),  # mmcv's, naming unreadable files
    dict(type='Resize', scale=(__width, __height), keep_ratio=False),
    dict(type='mmpretrain.PackInputs', meta_keys=__meta_keys),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='IdentityBatchSampler', num_instances=4),
    dataset=dict(split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', distance='cosine')
test_evaluator = val_evaluator
