"""CBAM-S on CUHK03 (new protocol, labeled boxes) — paper Table 2, row "CBAM-S": Rank-1 77.3, mAP 72.8.

The RGA-SC recipe with CBAM-S in place of RGA after each of the four ResNet-50 stages (the
places of RGA). CBAM's spatial attention (Woo et al., ECCV 2018): channel-wise mean and
max, a 7×7 conv, sigmoid.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='CBAMSpatial', in_channels=256),
    layer2=dict(type='CBAMSpatial', in_channels=512),
    layer3=dict(type='CBAMSpatial', in_channels=1024),
    layer4=dict(type='CBAMSpatial', in_channels=2048))))
