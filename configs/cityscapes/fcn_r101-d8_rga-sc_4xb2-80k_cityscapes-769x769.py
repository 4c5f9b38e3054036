_base_ = ['mmseg::fcn/fcn_r101-d8_4xb2-80k_cityscapes-769x769.py']
custom_imports = dict(imports=['rga_mm', 'rga_mm.datasets.cityscapes'],
                      allow_failed_imports=False)
model = dict(
    neck=dict(
        type='rga_mm.RGANeck',
        in_channels=2048,
        spatial_size=(33, 33),
        mode='SC',
        relation_path='factorized',
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(in_channels=4096),
    test_cfg=dict(mode='whole'))
# whole-image testing at the native 1024×2048; mmseg's sliding 769×769 windows:
# --cfg-options model.test_cfg.mode=slide
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# mmseg's dataset plus checks that name an empty split, an unreadable image or label map, a
# missing, mis-sized or labelIds label map (rga_mm/datasets/cityscapes.py)
dataset_type = 'rga_mm.CityscapesDataset'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader
# the heads must take the neck's 2·C channels: checked before the first forward also
# when mmseg's own tools run this config; the heads' dropout drawn from (seed, iteration),
# so that a resumed run trains bit for bit as an uninterrupted one
custom_hooks = [dict(type='rga_mm.CheckHeadsFitNeckHook'),
                dict(type='rga_mm.IterationSeedHook')]
# checkpoints that a kill at any moment cannot take away (mmseg's options kept)
default_hooks = dict(checkpoint=dict(type='rga_mm.AtomicCheckpointHook'))
# mmseg's learning rate is meant for 4 GPUs × 2 images: tools/train.py --auto-scale-lr
auto_scale_lr = dict(enable=False, base_batch_size=8)
