"""Your own re-ID data in train/, query/ and gallery/ folders of one folder per person, at
256×128: configs/reid/README.md, "Your own data"."""
_base_ = ['./reid_256x128.py']
# camera_pattern reads the camera from each file name (3 from 0001_c3_000.jpg; the '_' keeps
# the c of a word such as Dec2023 from reading as camera 2023); None: camera
# 0 everywhere, then also set exclude_same_camera=False in val_evaluator and test_evaluator
reid_dataset = dict(type='CustomReIDFolders', data_root='data/my_reid',
                    camera_pattern=r'_c(?P<camera>\d+)')
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
# reid_dataset is copied into the dataloaders when this file is read: on the command line
# override them, e.g. --cfg-options train_dataloader.dataset.data_root=... (and val/test)
