"""RGA-S, the spatial branch only (paper §3, Table 1): RGA-SC's four modules with mode='S'."""
_base_ = ['./reid_r50-ls1_rga-sc-256x128.py']
__rga = dict(mode='S')
model = dict(backbone=dict(attentions=dict(
    layer1=__rga, layer2=__rga, layer3=__rga, layer4=__rga)))
