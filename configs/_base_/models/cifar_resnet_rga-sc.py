# CIFAR ResNet-110 with RGA-SC (s1 = s2 = 4) after its first stage, whose 16-channel map
# has the input's size (paper §4.3, Table 7 "ResNet + RGA-SC").
_base_ = ['./cifar_classifier.py']
model = dict(
    backbone=dict(
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='rga_mm.CifarResNet', depth=110),
        attentions=dict(layer1=dict(type='rga_mm.RGA', in_channels=16,
                                    spatial_size=_base_.input_size, mode='SC', reduction=4,
                                    gate_reduction=4))),
    head=dict(in_channels=64))
