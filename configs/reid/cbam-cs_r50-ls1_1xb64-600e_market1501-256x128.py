"""CBAM-CS on Market-1501 — paper Table 2, row "CBAM-CS": Rank-1 95.0, mAP 85.6.

The RGA-SC recipe with CBAM-CS in place of RGA after each of the four ResNet-50 stages
(the places of RGA). CBAM (Woo et al., ECCV 2018): channel attention, then spatial
attention.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
model = dict(backbone=dict(attentions=dict(
    _delete_=True,
    layer1=dict(type='CBAM', in_channels=256),
    layer2=dict(type='CBAM', in_channels=512),
    layer3=dict(type='CBAM', in_channels=1024),
    layer4=dict(type='CBAM', in_channels=2048))))
