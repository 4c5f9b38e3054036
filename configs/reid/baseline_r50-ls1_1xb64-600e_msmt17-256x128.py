"""Baseline on MSMT17 (V1; V2 works with data_root=data/MSMT17_V2) — paper Table 5, row "Baseline": Rank-1 75.7, mAP 51.5.

The RGA-SC recipe without any attention module.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_msmt17-256x128.py']
model = dict(backbone=dict(attentions=dict(_delete_=True)))
