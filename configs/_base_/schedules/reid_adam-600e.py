"""The official RGA re-ID schedule (paper §4.1.1): Adam, lr 8e-4, weight decay 5e-4; linear
warm-up from 8e-6 over 20 epochs, then ×0.5 at epochs 80, 120, ..., 360; 600 epochs."""
optim_wrapper = dict(optimizer=dict(type='Adam', lr=8e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=True, milestones=list(range(80, 361, 40)), gamma=0.5),
]
train_cfg = dict(by_epoch=True, max_epochs=600, val_interval=50)
val_cfg = dict()
test_cfg = dict()
# the reference batch: 64 images = 16 identities × 4 on one GPU
auto_scale_lr = dict(enable=False, base_batch_size=64)
