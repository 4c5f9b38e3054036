"""FC-S/C on Market-1501 — paper Table 2, row "FC-S/C": Rank-1 94.8, mAP 85.0.

The RGA-SC recipe with FC-S/C in place of RGA after each of the four ResNet-50 stages (the
places of RGA). FC-S and FC-C together (Liu et al., AAAI 2019), both gates computed from
the stage output and applied in parallel: out = x·a_s·a_c.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='FCSpatialChannel', in_channels=256, spatial_size=(64, 32)),
    layer2=dict(type='FCSpatialChannel', in_channels=512, spatial_size=(32, 16)),
    layer3=dict(type='FCSpatialChannel', in_channels=1024, spatial_size=(16, 8)),
    layer4=dict(type='FCSpatialChannel', in_channels=2048, spatial_size=(16, 8)))))
