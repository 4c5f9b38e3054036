"""A ResNet-18 re-ID model with RGA-SC after its last stage, small enough to build and run in
a test: 5 identities, a (4, 2) map at the last stage (a 64×32 input with strides 1, 2, 2, 1).
Shared by the model tests (importable from this folder, which pytest puts on ``sys.path``)."""

TINY_MODEL = dict(
    type='ReIDModel',
    data_preprocessor=dict(mean=[0., 0., 0.], std=[1., 1., 1.]),
    backbone=dict(
        type='StageAttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, ),
                      strides=(1, 2, 2, 1)),
        attentions=dict(layer4=dict(type='RGA', in_channels=512, spatial_size=(4, 2)))),
    head=dict(type='BNNeckHead', in_channels=512, num_classes=5))
