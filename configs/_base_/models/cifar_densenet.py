# DenseNet (k = 12, L = 100) for CIFAR of Huang et al.: 3 dense blocks of 32 layers, no
# bottleneck, no compression (7.0 M parameters with the CIFAR-100 head).
input_size = (32, 32)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='rga_mm.CifarDenseNet', depth=100, growth_rate=12),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1168,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
