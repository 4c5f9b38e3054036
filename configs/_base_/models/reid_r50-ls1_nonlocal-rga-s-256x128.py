"""The five non-local blocks plus RGA-S after each of the four stages, so that in layer2
and layer3 RGA-S follows the non-local blocks (paper §4.1.2, Table 3)."""
_base_ = ['./reid_r50-ls1_nonlocal-256x128.py']
model = dict(backbone=dict(attentions={
    stage: dict(type='RGA', in_channels=channels, spatial_size=(height, width), mode='S')
    for stage, (channels, height, width) in _base_.stage_shapes.items()}))
