# DenseNet-BC (k = 12, L = 100; Table 7 baseline, 0.8 M)
# on CIFAR-10 (paper §4.3, Table 7).
# Schedule (Huang et al. 2017): SGD Nesterov momentum 0.9, wd 1e-4, batch 64, lr 0.1 ÷10 at
# epochs 150 and 225, 300 epochs.
_base_ = ['../_base_/models/cifar_densenet-bc.py', '../_base_/datasets/cifar10.py',
          '../_base_/schedules/cifar_densenet_sgd-300e.py']
model = dict(head=dict(num_classes=10))
train_dataloader = dict(batch_size=64)
