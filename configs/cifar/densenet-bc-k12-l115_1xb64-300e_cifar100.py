# DenseNet-BC (k = 12) of Table 7's depth 115 (0.97 M). 115 is not 6n + 4: the paper's
# count matches 18 bottleneck layers per block (0.968 M, CIFAR-100 head),
# on CIFAR-100 (paper §4.3, Table 7).
# Schedule (Huang et al. 2017): SGD Nesterov momentum 0.9, wd 1e-4, batch 64, lr 0.1 ÷10 at
# epochs 150 and 225, 300 epochs.
_base_ = ['../_base_/models/cifar_densenet-bc.py', '../_base_/datasets/cifar100.py',
          '../_base_/schedules/cifar_densenet_sgd-300e.py']
model = dict(backbone=dict(depth=115, num_layers=(18, 18, 18)),
             head=dict(num_classes=100, in_channels=384))
train_dataloader = dict(batch_size=64)
