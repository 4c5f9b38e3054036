"""The CPU demo: RGA-SC re-ID on a synthetic Market-1501 (configs/demo/README.md)."""
_base_ = [
    '../_base_/models/reid_r50-ls1_rga-sc-256x128.py',
    '../_base_/datasets/market1501-256x128.py',
    '../_base_/default_runtime.py',
]
input_size = (64, 32)  # (height, width): the pipelines and the RGA modules follow from it
__height, __width = input_size
# ResNet-18, last stride 1: stage → (channels, height, width) of its output
stage_shapes = dict(layer1=(64, __height // 4, __width // 4),
                    layer2=(128, __height // 8, __width // 8),
                    layer3=(256, __height // 16, __width // 16),
                    layer4=(512, __height // 16, __width // 16))
model = dict(
    backbone=dict(
        backbone=dict(depth=18, init_cfg=None),
        attentions={stage: dict(in_channels=channels, spatial_size=(height, width))
                    for stage, (channels, height, width) in stage_shapes.items()}),
    head=dict(in_channels=512, num_classes=60))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(__width, __height), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='mmpretrain.RandomCrop', crop_size=(__height, __width),
             padding=(__width // 16, __height // 16), pad_val=0)]),
    dict(type='rga_mm.ReIDRandomErasing', prob=0.5, area_range=(0.02, 0.4), min_aspect=0.3,
         fill=(103.53, 116.28, 123.675)),
    dict(type='mmpretrain.PackInputs',
         meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip',
                    'flip_direction', 'camera_id', 'is_query')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(__width, __height), keep_ratio=False),
    dict(type='mmpretrain.PackInputs',
         meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'camera_id',
                    'is_query')),
]
data_root = 'data/synthetic_reid/Market-1501-v15.09.15'
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='Adam', lr=8e-4, weight_decay=5e-4))
auto_scale_lr = dict(enable=False, base_batch_size=32)  # the batch of lr: --auto-scale-lr
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=3),
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 72], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=80, val_interval=20)  # 4 points on the curves
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(interval=80, max_keep_ckpts=1))
# every 20 epochs: input, RGA gates and CAM of 4 validation images, as PNG files under
# vis_data/vis_image/ and as TensorBoard images (tensorboard --logdir work_dirs/demo)
custom_hooks = [dict(type='AttentionVisualizationHook', num_images=4, interval=20)]
visualizer = dict(type='Visualizer', vis_backends=[
    dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
