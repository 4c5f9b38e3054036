"""The re-ID network of paper §4.1 with RGA-SC (s1 = s2 = 8, factorized relations) after
each of the four ResNet-50 stages, each built for its stage's map at ``input_size``:
(256, 64×32), (512, 32×16), (1024, 16×8), (2048, 16×8) at 256×128 (paper §4.1.1).
The RGA variants of Table 1 inherit this file and change ``mode`` or the gate's inputs."""
_base_ = ['./reid_r50-ls1-256x128.py']
model = dict(backbone=dict(attentions={
    stage: dict(type='RGA', in_channels=channels, spatial_size=(height, width))
    for stage, (channels, height, width) in _base_.stage_shapes.items()}))
