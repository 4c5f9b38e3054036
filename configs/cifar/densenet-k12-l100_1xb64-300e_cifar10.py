_base_ = [
    '../_base_/models/cifar_densenet.py',
    '../_base_/datasets/cifar10.py',
    '../_base_/schedules/cifar_densenet_sgd-300e.py',
]
model = dict(head=dict(num_classes=10))
train_dataloader = dict(batch_size=64)
