"""FC-S/C (Liu et al., AAAI 2019) after each of the four ResNet-50 stages, the places of RGA
(paper Table 2)."""
_base_ = ['./reid_r50-ls1-256x128.py']
model = dict(backbone=dict(attentions={
    stage: dict(type='FCSpatialChannel', in_channels=channels, spatial_size=(height, width))
    for stage, (channels, height, width) in _base_.stage_shapes.items()}))
