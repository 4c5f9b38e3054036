# DenseNet (k = 12, L = 100) with RGA-SC (s1 = s2 = 8) after the first dense block and its
# transition, a 400-channel map at half the input's size (paper §4.3, Table 7).
_base_ = ['./cifar_classifier.py']
__height, __width = _base_.input_size
model = dict(
    backbone=dict(
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='rga_mm.CifarDenseNet', depth=100, growth_rate=12),
        attentions=dict(transition1=dict(type='rga_mm.RGA', in_channels=400,
                                         spatial_size=(__height // 2, __width // 2),
                                         mode='SC', reduction=8, gate_reduction=8))),
    head=dict(in_channels=1168))
