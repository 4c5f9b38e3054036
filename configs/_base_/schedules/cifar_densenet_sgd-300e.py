# Schedule of Huang et al. 2017 (§4.2) for CIFAR DenseNets, on the CIFAR runtime.
# SGD with Nesterov momentum 0.9 (no dampening), weight decay 1e-4, batch 64 (set by each
# config), 300 epochs, lr 0.1 divided by 10 at epochs 150 and 225.
_base_ = ['../cifar_runtime.py']
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = [dict(type='MultiStepLR', milestones=[150, 225], gamma=0.1, by_epoch=True)]
auto_scale_lr = dict(enable=False, base_batch_size=64)  # the batch of lr: --auto-scale-lr
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
