"""Non-local on CUHK03 (new protocol, labeled boxes) — paper Table 3, row "Non-local": Rank-1 76.6, mAP 72.6.

The RGA-SC recipe with its four RGA modules replaced by five non-local blocks (Wang et
al., CVPR 2018: embedded Gaussian, bottleneck C/2, BN after W_z with zero scale), where
Wang et al. put them in ResNet-50: 2 in res3 (``layer2``) and 3 in res4 (``layer3``),
after every other residual block, i.e. after the bottlenecks ``layer2.1``, ``layer2.3``,
``layer3.1``, ``layer3.3`` and ``layer3.5`` (0-based; their released code adds a block
after block i when i % 2 == 1). AGW-style image re-ID code puts the same 2 + 3 blocks
after the last bottlenecks of those stages instead.
"""
_base_ = ['./rga-sc_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
non_local = {
    'layer2.1': dict(type='NonLocal', in_channels=512),
    'layer2.3': dict(type='NonLocal', in_channels=512),
    'layer3.1': dict(type='NonLocal', in_channels=1024),
    'layer3.3': dict(type='NonLocal', in_channels=1024),
    'layer3.5': dict(type='NonLocal', in_channels=1024),
}
model = dict(backbone=dict(attentions=dict(_delete_=True, **non_local)))
