"""DukeMTMC-reID at 256×128 for re-ID training and evaluation.

Expected folder: data/DukeMTMC-reID/ (docs/reid.md, "Preparing re-ID datasets").
"""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='DukeMTMCReID', data_root='data/DukeMTMC-reID')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
