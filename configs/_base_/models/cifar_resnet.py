# CIFAR ResNet-110 of He et al. (6n + 2, n = 18; 16/32/64 channels; option-A shortcuts):
# the Table 7 baseline. Leaves change depth and num_classes.
_base_ = ['./cifar_classifier.py']
model = dict(backbone=dict(type='rga_mm.CifarResNet', depth=110), head=dict(in_channels=64))
