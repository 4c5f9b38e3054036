"""Baseline on Market-1501 — paper Table 1, row "Baseline": Rank-1 94.2, mAP 83.7.

The RGA-SC recipe without any attention module.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
model = dict(backbone=dict(attentions=dict(_delete_=True)))
