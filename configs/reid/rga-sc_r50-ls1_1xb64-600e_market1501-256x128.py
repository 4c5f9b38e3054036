"""RGA-SC on Market-1501 — paper Table 1, row "RGA-SC": Rank-1 95.8, mAP 88.1.

ResNet-50 (last stride 1) with RGA-SC (s1 = s2 = 8) after each of its four stages, BNNeck
head, CE with label smoothing + batch-hard triplet, 600 epochs of Adam (paper §4.1.1).
"""
_base_ = [
    '../_base_/models/reid_r50-ls1_rga-sc-256x128.py',
    '../_base_/datasets/market1501-256x128.py',
    '../_base_/schedules/reid_adam-600e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=751))
