# DenseNet-BC (k = 12, L = 100) + RGA-SC after the first dense block and its transition
# (16×16×108, s1 = s2 = 8; 0.85 M) on CIFAR-10 (paper §4.3, Table 7).
# Schedule (Huang et al. 2017): SGD Nesterov momentum 0.9, wd 1e-4, batch 64, lr 0.1 ÷10 at
# epochs 150 and 225, 300 epochs.
_base_ = ['../_base_/models/cifar_densenet-bc.py', '../_base_/datasets/cifar10.py',
          '../_base_/schedules/cifar_densenet_sgd-300e.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='rga_mm.CifarDenseNet', depth=100, growth_rate=12,
                      bottleneck=True, compression=0.5),
        attentions=dict(transition1=dict(type='rga_mm.RGA', in_channels=108,
                                         spatial_size=(16, 16), mode='SC', reduction=8,
                                         gate_reduction=8))),
    head=dict(num_classes=10))
train_dataloader = dict(batch_size=64)
