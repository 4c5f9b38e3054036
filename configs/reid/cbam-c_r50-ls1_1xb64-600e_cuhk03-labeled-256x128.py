"""CBAM-C on CUHK03 (new protocol, labeled boxes) — paper Table 2, row "CBAM-C": Rank-1 76.9, mAP 72.7.

The RGA-SC recipe with CBAM-C in place of RGA after each of the four ResNet-50 stages (the
places of RGA). CBAM's channel attention (Woo et al., ECCV 2018): a shared MLP with ratio
16 on the average- and max-pooled features, summed, sigmoid.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='CBAMChannel', in_channels=256),
    layer2=dict(type='CBAMChannel', in_channels=512),
    layer3=dict(type='CBAMChannel', in_channels=1024),
    layer4=dict(type='CBAMChannel', in_channels=2048))))
