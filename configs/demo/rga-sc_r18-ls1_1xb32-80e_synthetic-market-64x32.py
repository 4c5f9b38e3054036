"""The demo: RGA-SC re-ID trained and evaluated on a synthetic Market-1501 in minutes on a CPU.

`bash tools/misc/run_demo.sh` generates the data on first use
(``rga_mm.datasets.synthetic.generate_synthetic_market``: 60 + 60 identities whose identity
lives in clothing colours and patterns, seen by 6 cameras with their own lighting and
backgrounds) into ``data/synthetic_reid/``, trains this config and tests it.

The paper's recipe scaled down to run on 2 CPU cores in under 10 minutes: ResNet-18 (last
stride 1, no ImageNet weights, which cannot be downloaded here) with RGA-SC after its four
stages at a 64×32 input, so the stage maps are 16×8, 8×4, 4×2 and 4×2; batches of
8 identities × 4 images; Adam with the paper's learning rate and a shorter schedule.
"""
_base_ = [
    '../_base_/models/reid_r50-ls1_rga-sc-256x128.py',
    '../_base_/datasets/market1501-256x128.py',
    '../_base_/default_runtime.py',
]
input_size = (64, 32)
model = dict(
    backbone=dict(
        backbone=dict(depth=18, init_cfg=None),
        attentions=dict(
            layer1=dict(in_channels=64, spatial_size=(16, 8)),
            layer2=dict(in_channels=128, spatial_size=(8, 4)),
            layer3=dict(in_channels=256, spatial_size=(4, 2)),
            layer4=dict(in_channels=512, spatial_size=(4, 2)))),
    head=dict(in_channels=512, num_classes=60))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='mmpretrain.RandomCrop', crop_size=(64, 32), padding=(2, 4), pad_val=0)]),
    dict(type='rga_mm.ReIDRandomErasing', prob=0.5, area_range=(0.02, 0.4), min_aspect=0.3,
         fill=(103.53, 116.28, 123.675)),
    dict(type='mmpretrain.PackInputs',
         meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip',
                    'flip_direction', 'camera_id', 'is_query')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 64), keep_ratio=False),
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
