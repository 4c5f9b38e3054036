# CIFAR ResNet-110 of He et al. (6n + 2, n = 18; 16/32/64 channels; option-A shortcuts):
# the Table 7 baseline. Leaves change depth, the attention and num_classes.
input_size = (32, 32)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='rga_mm.CifarResNet', depth=110),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
