"""MSMT17 (V1) at 256×128 for re-ID training and evaluation.

Expected folder: data/MSMT17_V1/ (docs/reid.md, "Preparing re-ID datasets"). V2 loads the
same way from its own folder: set data_root=data/MSMT17_V2 in each of train_, val_ and
test_dataloader.dataset, in a config inheriting this one or on the command line
(reid_dataset was copied into them when this file was read, so setting it changes nothing).
"""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='MSMT17', data_root='data/MSMT17_V1')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
