"""RGA-SC on your own data listed in an annotation file: the Market-1501 RGA-SC recipe with
another dataset (README, "Preparing re-ID datasets"). The paper has no number for it."""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']
reid_dataset = dict(type='CustomReIDAnnotations', data_root='data/my_reid',
                    ann_file='annotations.csv')  # or annotations.jsonl
train_dataloader = dict(dataset=reid_dataset)
val_dataloader = dict(dataset=reid_dataset)
test_dataloader = dict(dataset=reid_dataset)
# reid_dataset is copied into the dataloaders when this file is read: on the command line
# override them, e.g. --cfg-options train_dataloader.dataset.data_root=... (and val/test)
# One classifier output per training identity, a number the config cannot know: set it to
# the "identities" of the "train" row in the table logged when the data loads (fewer stops
# training with an error naming the label; more leaves outputs that are never a target).
model = dict(head=dict(num_classes=100))
