"""ResNet-50 with RGA-SC after each of its four stages: the re-ID backbone of paper §4.1.

Last stride 1 (``strides=(1, 2, 2, 1)``); at a 256×128 input the four stages give
(C, h × w) = (256, 64×32), (512, 32×16), (1024, 16×8), (2048, 16×8) (design §3).
RGA defaults: mode 'SC', s1 = s2 = 8, factorized relations.
"""
default_scope = 'rga_mm'
input_size = (256, 128)
model = dict(
    type='StageAttentionBackbone',
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        norm_cfg=dict(type='BN', requires_grad=True)),
    attentions=dict(
        layer1=dict(type='RGA', in_channels=256, spatial_size=(64, 32)),
        layer2=dict(type='RGA', in_channels=512, spatial_size=(32, 16)),
        layer3=dict(type='RGA', in_channels=1024, spatial_size=(16, 8)),
        layer4=dict(type='RGA', in_channels=2048, spatial_size=(16, 8))))
