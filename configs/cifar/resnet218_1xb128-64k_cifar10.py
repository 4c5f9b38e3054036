_base_ = [
    '../_base_/models/cifar_resnet.py',
    '../_base_/datasets/cifar10.py',
    '../_base_/schedules/cifar_resnet_sgd-64k.py',
]
model = dict(backbone=dict(depth=218), head=dict(num_classes=10))
train_dataloader = dict(batch_size=128)
