"""RGA-C on CUHK03 (new protocol, labeled boxes) — paper Table 1, row "RGA-C": Rank-1 79.0, mAP 74.9.

The RGA-SC recipe with the same four modules changed to mode='C'.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
rga = dict(mode='C')
model = dict(backbone=dict(attentions=dict(layer1=rga, layer2=rga, layer3=rga, layer4=rga)))
