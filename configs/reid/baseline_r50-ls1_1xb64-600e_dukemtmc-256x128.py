"""Baseline on DukeMTMC-reID — paper Table 4, row "Baseline": Rank-1 83.4, mAP —.

The RGA-SC recipe without any attention module.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_dukemtmc-256x128.py']
model = dict(backbone=dict(attentions=dict(_delete_=True)))
