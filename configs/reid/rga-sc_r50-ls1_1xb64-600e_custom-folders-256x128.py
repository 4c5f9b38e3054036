"""RGA-SC on your own data in train/, query/ and gallery/ folders of one folder per person:
the Market-1501 RGA-SC recipe with another dataset (README, "Preparing re-ID datasets").
The paper has no number for it."""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
# camera_pattern reads the camera from each file name (3 from 0001_c3_000.jpg); None: camera
# 0 everywhere, then also set exclude_same_camera=False in val_evaluator and test_evaluator
reid_dataset = dict(type='CustomReIDFolders', data_root='data/my_reid',
                    camera_pattern=r'c(?P<camera>\d+)')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
# reid_dataset is copied into the dataloaders when this file is read: on the command line
# override them, e.g. --cfg-options train_dataloader.dataset.data_root=... (and val/test)
# One classifier output per training identity, a number the config cannot know: set it to
# the "identities" of the "train" row in the table logged when the data loads (fewer stops
# training with an error naming the label; more leaves outputs that are never a target).
model = dict(head=dict(num_classes=100))
