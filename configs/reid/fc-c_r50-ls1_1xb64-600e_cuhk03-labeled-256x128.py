"""FC-C on CUHK03 (new protocol, labeled boxes) — paper Table 2, row "FC-C": Rank-1 77.4, mAP 72.9.

The RGA-SC recipe with FC-C in place of RGA after each of the four ResNet-50 stages (the
places of RGA). FC-C (Liu et al., AAAI 2019): a 1×1 embedding C → C/8, the spatial mean,
one fully connected layer C/8 → C, sigmoid.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='FCChannel', in_channels=256),
    layer2=dict(type='FCChannel', in_channels=512),
    layer3=dict(type='FCChannel', in_channels=1024),
    layer4=dict(type='FCChannel', in_channels=2048))))
