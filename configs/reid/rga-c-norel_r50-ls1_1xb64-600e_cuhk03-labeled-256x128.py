"""RGA-C w/o Rel. on CUHK03 (new protocol, labeled boxes) — paper Table 1, row "RGA-C w/o Rel.": Rank-1 77.8, mAP 73.7.

The RGA-SC recipe with the same four modules changed to mode='C', use_relation=False.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
rga = dict(mode='C', use_relation=False)
model = dict(backbone=dict(attentions=dict(layer1=rga, layer2=rga, layer3=rga, layer4=rga)))
