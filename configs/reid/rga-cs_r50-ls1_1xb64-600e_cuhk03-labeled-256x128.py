"""RGA-CS on CUHK03 (new protocol, labeled boxes) — paper Table 1, row "RGA-CS": Rank-1 78.6, mAP 75.5.

The RGA-SC recipe with the same four modules changed to mode='CS'.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
rga = dict(mode='CS')
model = dict(backbone=dict(attentions=dict(layer1=rga, layer2=rga, layer3=rga, layer4=rga)))
