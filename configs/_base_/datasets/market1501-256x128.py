"""Market-1501 at 256×128 for re-ID training and evaluation.

Expected folder: data/Market-1501-v15.09.15/ (docs/reid.md, "Preparing re-ID datasets").
"""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='Market1501', data_root='data/Market-1501-v15.09.15')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
