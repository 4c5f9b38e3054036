"""Five non-local blocks (Wang et al., CVPR 2018) where they put them in ResNet-50: after
the bottlenecks layer2.1, layer2.3, layer3.1, layer3.3 and layer3.5 (paper Table 3)."""
_base_ = ['./reid_r50-ls1-256x128.py']
model = dict(backbone=dict(attentions={
    'layer2.1': dict(type='NonLocal', in_channels=512),
    'layer2.3': dict(type='NonLocal', in_channels=512),
    'layer3.1': dict(type='NonLocal', in_channels=1024),
    'layer3.3': dict(type='NonLocal', in_channels=1024),
    'layer3.5': dict(type='NonLocal', in_channels=1024)}))
