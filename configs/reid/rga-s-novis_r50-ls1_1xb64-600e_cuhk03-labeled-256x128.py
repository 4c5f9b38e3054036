"""RGA-S w/o Vis. on CUHK03 (new protocol, labeled boxes) — paper Table 1, row "RGA-S w/o Vis.": Rank-1 78.2, mAP 74.0.

The RGA-SC recipe with the same four modules changed to mode='S', use_appearance=False.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
rga = dict(mode='S', use_appearance=False)
model = dict(backbone=dict(attentions=dict(layer1=rga, layer2=rga, layer3=rga, layer4=rga)))
