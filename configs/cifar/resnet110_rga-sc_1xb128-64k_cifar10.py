# ResNet-110 + RGA-SC after the first stage (32×32×16, s1 = s2 = 4; 3.0 M)
# on CIFAR-10 (paper §4.3, Table 7).
# Schedule (He et al. 2016, CIFAR): SGD momentum 0.9, wd 1e-4, batch 128, lr 0.1 (0.01 for
# the first 400 iterations), ÷10 at 32k and 48k iterations, stop at 64k.
_base_ = ['../_base_/models/cifar_resnet.py', '../_base_/datasets/cifar10.py',
          '../_base_/schedules/cifar_resnet_sgd-64k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='rga_mm.CifarResNet', depth=110),
        attentions=dict(layer1=dict(type='rga_mm.RGA', in_channels=16, spatial_size=(32, 32),
                                    mode='SC', reduction=4, gate_reduction=4))),
    head=dict(num_classes=10))
train_dataloader = dict(batch_size=128)
