# CIFAR-10 (paper §4.3): 50k train / 10k test 32×32 images, read offline from
# data/cifar10/cifar-10-batches-py/ (the official python archive, extracted).
# rga_mm.CIFAR10 is mmpretrain's CIFAR10 with an optional md5 check; the real
# files pass it, so it stays on. Augmentation of He et al. and Huang et al.: random 32×32
# crop from the image padded by 4 pixels, horizontal flip; per-channel normalisation (RGB
# statistics of the training set, as mmpretrain) happens in the data preprocessor. Every
# training image's crop and flip are drawn from (seed, epoch, draw) (rga_mm.DrawSeededSampler),
# so a resumed run trains bit for bit as an uninterrupted one, with any number of workers.
dataset_type = 'rga_mm.CIFAR10'
data_preprocessor = dict(
    type='ClsDataPreprocessor', num_classes=10,
    mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root='data/cifar10', split='train',
                 verify_md5=True, pipeline=train_pipeline),
    sampler=dict(type='rga_mm.DrawSeededSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root='data/cifar10', split='test',
                 verify_md5=True, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
