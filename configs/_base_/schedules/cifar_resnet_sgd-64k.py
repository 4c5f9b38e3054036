# Schedule of He et al. 2016 (§4.2) for CIFAR ResNets, on the CIFAR runtime.
# SGD, momentum 0.9, weight decay 1e-4, batch 128 (set by each config), lr 0.1 divided by 10
# at 32k and 48k iterations, stop at 64k. For 110 layers (and deeper) He et al. warm up at
# lr 0.01 until the training error is below 80 % (about 400 iterations): a constant 0.01 for
# the first 400 iterations here. Iteration based: validation and checkpoints every 4k.
_base_ = ['../cifar_runtime.py']
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False))
param_scheduler = [
    dict(type='ConstantLR', factor=0.1, begin=0, end=400, by_epoch=False),
    dict(type='MultiStepLR', milestones=[32000, 48000], gamma=0.1, by_epoch=False),
]
auto_scale_lr = dict(enable=False, base_batch_size=128)  # the batch of lr: --auto-scale-lr
train_cfg = dict(by_epoch=False, max_iters=64000, val_interval=4000)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
