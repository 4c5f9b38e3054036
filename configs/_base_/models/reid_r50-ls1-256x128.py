"""The re-ID network of paper §4.1.1 without attention (the baseline): ResNet-50 with last
stride 1, global average pooling, BNNeck head (CE with label smoothing + batch-hard triplet).

The stage shapes below, and through them the ``spatial_size`` of every size-aware attention
base, follow from ``input_size`` (../reid_input_size.py), which this base carries on. The backbone starts from torchvision's ImageNet ResNet-50 (the official code's
``resnet50-19c8e357.pth``, from https://download.pytorch.org/models/); put the file at the
path below or override it with
``--cfg-options model.backbone.backbone.init_cfg.checkpoint=PATH``.
"""
_base_ = ['../reid_input_size.py']
__height, __width = _base_.input_size
# stage → (channels, height, width) of its output: strides 4, 8, 16 and 16 (last stride 1)
stage_shapes = dict(layer1=(256, __height // 4, __width // 4),
                    layer2=(512, __height // 8, __width // 8),
                    layer3=(1024, __height // 16, __width // 16),
                    layer4=(2048, __height // 16, __width // 16))
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
        attentions=dict()),
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(
        type='BNNeckHead',
        in_channels=2048,
        num_classes=751,
        loss_cls=dict(type='mmpretrain.LabelSmoothLoss', label_smooth_val=0.1,
                      mode='original', loss_weight=1.0),
        loss_triplet=dict(type='BatchHardTripletLoss', margin=0.3, loss_weight=1.0),
        test_feature='post_bn'))
