"""Baseline on CUHK03 (new protocol, detected boxes) — paper Table 4, row "Baseline": Rank-1 70.5, mAP 65.5.

The RGA-SC recipe without any attention module.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-detected-256x128.py']
model = dict(backbone=dict(attentions=dict(_delete_=True)))
