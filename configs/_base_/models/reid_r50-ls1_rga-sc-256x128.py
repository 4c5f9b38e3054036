"""The re-ID network of paper §4.1: ResNet-50 (last stride 1) + RGA-SC after each of its four
stages + global average pooling + BNNeck head.

At a 256×128 input the four stages give (C, h × w) = (256, 64×32), (512, 32×16),
(1024, 16×8), (2048, 16×8) (paper §4.1.1); RGA defaults: s1 = s2 = 8, factorized relations.
The backbone starts from torchvision's ImageNet ResNet-50 (the official code's
``resnet50-19c8e357.pth``); put the file at the path below or override it with
``--cfg-options model.backbone.backbone.init_cfg.checkpoint=PATH``.
"""
input_size = (256, 128)
model = dict(
    type='ReIDModel',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='StageAttentionBackbone',
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=50,
            strides=(1, 2, 2, 1),
            out_indices=(3, ),
            init_cfg=dict(type='Pretrained',
                          checkpoint='checkpoints/resnet50-19c8e357.pth')),
        attentions=dict(
            layer1=dict(type='RGA', in_channels=256, spatial_size=(64, 32)),
            layer2=dict(type='RGA', in_channels=512, spatial_size=(32, 16)),
            layer3=dict(type='RGA', in_channels=1024, spatial_size=(16, 8)),
            layer4=dict(type='RGA', in_channels=2048, spatial_size=(16, 8)))),
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(
        type='BNNeckHead',
        in_channels=2048,
        num_classes=751,
        loss_cls=dict(type='mmpretrain.LabelSmoothLoss', label_smooth_val=0.1,
                      mode='original', loss_weight=1.0),
        loss_triplet=dict(type='BatchHardTripletLoss', margin=0.3, loss_weight=1.0),
        test_feature='post_bn'))
