"""DeepLabV3 (ASPP) R101-d8 + RGA-SC on Cityscapes, 769×769 crops, 80k iterations
(paper §4.2, Table 6).

mmseg's own ``deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-769x769.py``
plus the RGA neck: RGA-SC on the last (stride-8, 2048-channel) map, concatenated with it,
so the decode head reads 4096 channels; the auxiliary FCN head (layer3) is unchanged.
The baseline is mmseg's config itself
(``mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-769x769.py``), not a copy.

Built size 33×33, 3,375,800 neck parameters. RGA's parameters grow with N = h·w: the
spatial relation embedding ϕ is a 1×1 conv 2N → N/8 (N²/4 weights) and the channel branch
embeds N positions to N/8 three times (θ, φ, ψ: 3N²/8 weights), on top of a size-free
2.62 M (θ, φ, ψ of the spatial branch, 2048 → 256, and the channel relation embedding
4096 → 256). Counted by building the module (BN included; see the README section
"Semantic segmentation on Cityscapes"):

    built grid   N      RGA-SC parameters
    97×97        9409   58.1 M  (the crop's d8 map; the ResNet-101 backbone has 42.5 M)
    49×49        2401    6.2 M
    33×33        1089    3.4 M  <- chosen
    25×25         625    2.9 M

33×33 pools the 97×97 crop map by ≈3 (one reference node per 24×24 image pixels) for 0.75 M
parameters above the size-free part, where 97×97 would add 55.5 M; below 33×33 the savings
are small (25×25 saves 0.5 M) while the grid gets coarser. Training crops (97×97) and
whole-image testing (1024×2048 → 128×256) take their relations against this grid through
RGA's RoIAlign reference grid (``variable_size=True``). The ASPP head reads 4096 instead of
2048 channels, which adds 30.4 M to its five ASPP branches: the whole model has 120.9 M
parameters against 87.1 M for mmseg's baseline.

Testing is whole-image at the native 1024×2048. Slide testing (mmseg's 769×769 windows,
stride 513) is one option away:
    --cfg-options model.test_cfg.mode=slide
"""
_base_ = ['mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-769x769.py']
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
model = dict(
    neck=dict(
        type='rga_mm.RGANeck',
        in_channels=2048,
        spatial_size=(33, 33),
        mode='SC',
        relation_path='factorized',
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(in_channels=4096),
    test_cfg=dict(mode='whole'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
