# DenseNet (k = 12, L = 100) for CIFAR of Huang et al.: 3 dense blocks of 32 layers, no
# bottleneck, no compression (7.0 M parameters with the CIFAR-100 head).
_base_ = ['./cifar_classifier.py']
model = dict(backbone=dict(type='rga_mm.CifarDenseNet', depth=100, growth_rate=12),
             head=dict(in_channels=1168))
