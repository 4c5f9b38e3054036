_base_ = [
    '../_base_/models/cifar_densenet.py',
    '../_base_/datasets/cifar100.py',
    '../_base_/schedules/cifar_densenet_sgd-300e.py',
]
model = dict(backbone=dict(depth=115), head=dict(num_classes=100, in_channels=1348))
train_dataloader = dict(batch_size=64)
