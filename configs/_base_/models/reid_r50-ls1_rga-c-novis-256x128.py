"""RGA-C w/o Vis. (paper §3, Table 1): RGA-SC's four modules with mode='C',
use_appearance=False."""
_base_ = ['./reid_r50-ls1_rga-sc-256x128.py']
__rga = dict(mode='C', use_appearance=False)
model = dict(backbone=dict(attentions=dict(
    layer1=__rga, layer2=__rga, layer3=__rga, layer4=__rga)))
