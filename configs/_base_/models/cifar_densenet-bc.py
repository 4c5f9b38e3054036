# DenseNet-BC (k = 12, L = 100) for CIFAR of Huang et al.: 3 dense blocks of 16 bottleneck
# layers (1×1 conv to 4k channels), compression 0.5 (0.8 M parameters, CIFAR-100 head).
_base_ = ['./cifar_classifier.py']
model = dict(backbone=dict(type='rga_mm.CifarDenseNet', depth=100, growth_rate=12,
                           bottleneck=True, compression=0.5),
             head=dict(in_channels=342))
