"""MSMT17 (V1; V2 works with data_root=data/MSMT17_V2) at 256×128 for re-ID training and evaluation.

Expected folder: data/MSMT17_V1/ (docs/reid.md, "Preparing re-ID datasets").
"""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='MSMT17', data_root='data/MSMT17_V1')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
