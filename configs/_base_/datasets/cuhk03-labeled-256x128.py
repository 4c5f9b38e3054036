"""CUHK03 (new protocol, labeled boxes) at 256×128 for re-ID training and evaluation.

Expected folder: data/cuhk03-np/ (docs/reid.md, "Preparing re-ID datasets").
"""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='CUHK03', data_root='data/cuhk03-np', box_type='labeled')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
