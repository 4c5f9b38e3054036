"""Your own re-ID data listed in an annotation file (CSV or JSON lines), at 256×128:
configs/reid/README.md, "Your own data"."""
_base_ = ['./reid_256x128.py']
reid_dataset = dict(type='CustomReIDAnnotations', data_root='data/my_reid',
                    ann_file='annotations.csv')  # or annotations.jsonl
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
# reid_dataset is copied into the dataloaders when this file is read: on the command line
# override them, e.g. --cfg-options train_dataloader.dataset.data_root=... (and val/test)
