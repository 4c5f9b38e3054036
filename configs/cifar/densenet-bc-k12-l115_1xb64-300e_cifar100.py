_base_ = [
    '../_base_/models/cifar_densenet-bc.py',
    '../_base_/datasets/cifar100.py',
    '../_base_/schedules/cifar_densenet_sgd-300e.py',
]
model = dict(backbone=dict(depth=115, num_layers=(18, 18, 18)),
             head=dict(num_classes=100, in_channels=384))
train_dataloader = dict(batch_size=64)
