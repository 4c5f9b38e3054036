_base_ = [
    '../_base_/models/reid_r50-ls1-256x128.py',
    '../_base_/datasets/cuhk03-labeled-256x128.py',
    '../_base_/schedules/reid_adam-600e.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=767))
