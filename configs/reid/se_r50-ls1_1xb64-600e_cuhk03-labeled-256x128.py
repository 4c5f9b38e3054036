"""SE on CUHK03 (new protocol, labeled boxes) — paper Table 2, row "SE": Rank-1 76.3, mAP 71.9.

The RGA-SC recipe with SE in place of RGA after each of the four ResNet-50 stages (the
places of RGA). Squeeze-and-excitation (Hu et al., CVPR 2018): ratio 16, ReLU, sigmoid.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='SE', in_channels=256),
    layer2=dict(type='SE', in_channels=512),
    layer3=dict(type='SE', in_channels=1024),
    layer4=dict(type='SE', in_channels=2048))))
