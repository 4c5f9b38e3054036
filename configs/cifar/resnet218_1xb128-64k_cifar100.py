# ResNet-218, the deeper baseline (3.5 M)
# on CIFAR-100 (paper §4.3, Table 7).
# Schedule (He et al. 2016, CIFAR): SGD momentum 0.9, wd 1e-4, batch 128, lr 0.1 (0.01 for
# the first 400 iterations), ÷10 at 32k and 48k iterations, stop at 64k.
_base_ = ['../_base_/models/cifar_resnet.py', '../_base_/datasets/cifar100.py',
          '../_base_/schedules/cifar_resnet_sgd-64k.py']
model = dict(backbone=dict(depth=218), head=dict(num_classes=100))
train_dataloader = dict(batch_size=128)
