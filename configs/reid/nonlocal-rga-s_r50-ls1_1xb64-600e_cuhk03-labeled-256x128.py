"""Non-local + RGA-S on CUHK03 (new protocol, labeled boxes) — paper Table 3, row "Non-local + RGA-S": Rank-1 80.6, mAP 76.8.

The Non-local model (five non-local blocks after ``layer2.1``, ``layer2.3``,
``layer3.1``, ``layer3.3``, ``layer3.5``, where Wang et al. put them; see its config)
with RGA-S (s1 = s2 = 8) after each of the four ResNet-50 stages, the places of RGA;
in ``layer2`` and ``layer3`` RGA-S thus follows the non-local blocks (paper §4.1.2).
"""
_base_ = ['./nonlocal_r50-ls1_1xb64-600e_cuhk03-labeled-256x128.py']
model = dict(backbone=dict(attentions=dict(
    layer1=dict(type='RGA', in_channels=256, spatial_size=(64, 32), mode='S'),
    layer2=dict(type='RGA', in_channels=512, spatial_size=(32, 16), mode='S'),
    layer3=dict(type='RGA', in_channels=1024, spatial_size=(16, 8), mode='S'),
    layer4=dict(type='RGA', in_channels=2048, spatial_size=(16, 8), mode='S'))))
