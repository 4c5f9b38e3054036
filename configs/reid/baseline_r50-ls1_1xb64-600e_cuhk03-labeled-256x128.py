"""Baseline on CUHK03 (new protocol, labeled boxes) — paper Table 1, row "Baseline": Rank-1 73.8, mAP 69.0.

The RGA-SC recipe without any attention module.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(_delete_=True)))
