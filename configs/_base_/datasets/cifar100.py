# CIFAR-100 (paper §4.3): 50k train / 10k test 32×32 images, read offline from
# data/cifar100/cifar-100-python/ (the official python archive, extracted).
# Everything else (md5 check, augmentation, loaders) as in ./cifar10.py; only the dataset,
# the class count and the training-set statistics differ.
_base_ = ['./cifar10.py']
dataset_type = 'rga_mm.CIFAR100'
data_preprocessor = dict(
    num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
cifar100 = dict(type=dataset_type, data_root='data/cifar100')
train_dataloader = dict(dataset=cifar100)
val_dataloader = dict(dataset=cifar100)
test_dataloader = dict(dataset=cifar100)
