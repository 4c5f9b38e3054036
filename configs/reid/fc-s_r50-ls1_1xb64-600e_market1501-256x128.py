"""FC-S on Market-1501 — paper Table 2, row "FC-S": Rank-1 95.2, mAP 86.2.

The RGA-SC recipe with FC-S in place of RGA after each of the four ResNet-50 stages (the
places of RGA). FC-S (Liu et al., AAAI 2019): a 1×1 embedding C → C/8, the cross-channel
mean, fully connected layers N → N/8 → N over the N = h·w positions, sigmoid.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='FCSpatial', in_channels=256, spatial_size=(64, 32)),
    layer2=dict(type='FCSpatial', in_channels=512, spatial_size=(32, 16)),
    layer3=dict(type='FCSpatial', in_channels=1024, spatial_size=(16, 8)),
    layer4=dict(type='FCSpatial', in_channels=2048, spatial_size=(16, 8)))))
