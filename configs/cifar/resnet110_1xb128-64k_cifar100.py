_base_ = [
    '../_base_/models/cifar_resnet.py',
    '../_base_/datasets/cifar100.py',
    '../_base_/schedules/cifar_resnet_sgd-64k.py',
]
model = dict(head=dict(num_classes=100))
train_dataloader = dict(batch_size=128)
