"""SE (Hu et al., CVPR 2018) after each of the four ResNet-50 stages, the places of RGA (paper
Table 2)."""
_base_ = ['./reid_r50-ls1-256x128.py']
model = dict(backbone=dict(attentions={
    stage: dict(type='SE', in_channels=channels)
    for stage, (channels, _, _) in _base_.stage_shapes.items()}))
