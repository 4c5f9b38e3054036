"""The attention zoo of the paper's Tables 2 and 3: SE, CBAM, FC-S/C and non-local blocks.

Each gate is recomputed here from its paper's equations with the module's own weights
(tiny maps, eval mode), each parameter count against its closed-form formula.
"""
import re

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_plugin_layer

import rga_mm  # noqa: F401  (registers rga_mm's modules)
from rga_mm.models.attention import (
    CBAM,
    RGA,
    SE,
    CBAMChannel,
    CBAMSpatial,
    FCChannel,
    FCSpatial,
    FCSpatialChannel,
    NonLocal,
)
from rga_mm.registry import MODELS

C, H, W = 32, 6, 4  # a tiny (C, h, w) map; N = 24 positions


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    """Random weights, biases and BN statistics (so no term can hide behind a zero or a
    unit default), then eval mode: BN uses its running statistics."""
    for name, tensor in module.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        if name.endswith('running_var'):
            tensor.copy_(torch.rand_like(tensor) + 0.5)
        else:
            tensor.copy_(torch.randn_like(tensor) * 0.5)
    return module.eval()


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_bn_relu(x, conv_module):
    """δ(BN(W x)) of a 1×1 ConvModule, written out (eval-mode BN)."""
    bn = conv_module.norm
    y = F.conv2d(x, conv_module.conv.weight, conv_module.conv.bias)
    y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps)
    return y.relu()


def assert_gated(module, reference_gate) -> torch.Tensor:
    """On a random x of shape (2, C, H, W), check ``module(x) == x * reference_gate(module,
    x)`` (the paper's formula written out) and return the gate the module applied,
    ``module(x) / x``."""
    x = torch.randn(2, C, H, W)
    out = module(x)
    torch.testing.assert_close(out, x * reference_gate(module, x))
    return out / x


def linear(module, x):
    """A 1×1 ConvModule used as a fully connected layer, applied to (B, D) vectors."""
    return F.linear(x, module.conv.weight[:, :, 0, 0], module.conv.bias)


# ---- Hu et al., Eq. 2-4 -------------------------------------------------------------------

def test_se_scales_each_channel_by_its_excitation():
    module = randomize(SE(C))  # r = 16: C → 2 → C
    x = torch.randn(2, C, H, W)
    z = x.mean(dim=(2, 3))  # Eq. 2
    s = torch.sigmoid(linear(module.conv2, linear(module.conv1, z).relu()))  # Eq. 3
    torch.testing.assert_close(module(x), x * s[..., None, None])  # Eq. 4


def test_se_bottleneck_is_c_over_r_and_params_follow_the_formula():
    """mmpretrain's SELayer would round C/16 = 2 up to 8; Hu et al. use C/r."""
    for channels, reduction in ((C, 16), (256, 16), (64, 4)):
        module = SE(channels, reduction)
        hidden = channels // reduction
        assert module.conv1.conv.out_channels == hidden
        assert num_params(module) == 2 * channels * hidden + hidden + channels


# ---- Woo et al., Eq. 1-3 ------------------------------------------------------------------

def cbam_channel_gate(module, x):
    mlp = module.shared_mlp

    def shared(v):
        return linear(mlp[1], linear(mlp[0], v).relu())

    gate = torch.sigmoid(shared(x.mean(dim=(2, 3))) + shared(x.amax(dim=(2, 3))))
    return gate[..., None, None]


def cbam_spatial_gate(module, x):
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    return torch.sigmoid(F.conv2d(pooled, module.conv.conv.weight, module.conv.conv.bias,
                                  padding=3))


def test_cbam_channel_sums_the_shared_mlp_of_avg_and_max_pooling():
    module = randomize(CBAMChannel(C))
    assert_gated(module, cbam_channel_gate)


def test_cbam_spatial_is_a_7x7_conv_of_channel_mean_and_max_constant_across_channels():
    module = randomize(CBAMSpatial(C))
    gate = assert_gated(module, cbam_spatial_gate)
    # a spatial gate: the same factor for every channel of a position
    torch.testing.assert_close(gate, gate[:, :1].expand_as(gate))
    assert module.conv.conv.kernel_size == (7, 7)


def test_cbam_applies_channel_then_spatial():
    module = randomize(CBAM(C))
    x = torch.randn(2, C, H, W)
    refined = x * cbam_channel_gate(module.channel_gate, x)
    expected = refined * cbam_spatial_gate(module.spatial_gate, refined)
    torch.testing.assert_close(module(x), expected)


def test_cbam_params_follow_the_formulas():
    hidden = C // 16
    mlp = 2 * C * hidden + hidden + C
    assert num_params(CBAMChannel(C)) == mlp
    assert num_params(CBAMSpatial(C)) == 2 * 7 * 7 + 1  # Eq. 3: conv with bias, no BN
    assert num_params(CBAMSpatial(C, norm_cfg=dict(type='BN'))) == 2 * 7 * 7 + 2  # their code
    assert num_params(CBAM(C)) == mlp + 2 * 7 * 7 + 1


# ---- Liu et al. (as described in RGA §2, §4.1.2) ---------------------------------------

def fc_spatial_gate(module, x):
    pooled = conv_bn_relu(x, module.embedding).mean(dim=1).flatten(1)  # (B, N)
    fc1, fc2 = module.position_fc
    gate = torch.sigmoid(linear(fc2, linear(fc1, pooled).relu()))
    return gate.view(x.shape[0], 1, *x.shape[-2:])


def fc_channel_gate(module, x):
    pooled = conv_bn_relu(x, module.embedding).mean(dim=(2, 3))
    return torch.sigmoid(linear(module.channel_fc, pooled))[..., None, None]


def test_fc_spatial_is_fully_connected_over_positions_and_constant_across_channels():
    module = randomize(FCSpatial(C, spatial_size=(H, W)))
    gate = assert_gated(module, fc_spatial_gate)
    torch.testing.assert_close(gate, gate[:, :1].expand_as(gate))


def test_fc_spatial_weights_are_unshared_across_positions():
    """"Each spatial position corresponds to a FC node with unshared parameters" (paper
    §2): changing one output node's bias changes the gate of that position only (a
    convolution's bias would move every position)."""
    module = randomize(FCSpatial(C, spatial_size=(H, W)))
    x = torch.randn(1, C, H, W)
    before = module.spatial_attention(x)
    with torch.no_grad():
        module.position_fc[1].conv.bias[5] += 1.0  # output node of position p = 5
    changed = (module.spatial_attention(x) != before).flatten()
    assert changed.nonzero().flatten().tolist() == [5]


def test_fc_channel_is_one_fc_layer_over_the_pooled_embedding():
    module = randomize(FCChannel(C))
    gate = assert_gated(module, fc_channel_gate)
    # a channel gate: the same factor at every position of a channel
    torch.testing.assert_close(gate, gate[..., :1, :1].expand_as(gate))


@pytest.mark.parametrize('mode', ['S//C', 'SC', 'CS'])
def test_fc_spatial_channel_orders(mode):
    module = randomize(FCSpatialChannel(C, spatial_size=(H, W), mode=mode))
    spatial, channel = module.spatial_gate, module.channel_gate
    x = torch.randn(2, C, H, W)
    if mode == 'S//C':
        expected = x * fc_spatial_gate(spatial, x) * fc_channel_gate(channel, x)
    elif mode == 'SC':
        refined = x * fc_spatial_gate(spatial, x)
        expected = refined * fc_channel_gate(channel, refined)
    else:
        refined = x * fc_channel_gate(channel, x)
        expected = refined * fc_spatial_gate(spatial, refined)
    torch.testing.assert_close(module(x), expected)


def test_fc_params_follow_the_formulas():
    embed = C // 8  # r_e = 8
    positions, hidden = H * W, H * W // 8  # r_h = 8
    embedding = C * embed + 2 * embed  # 1×1 conv without bias (BN follows) + BN
    fc_s = embedding + 2 * positions * hidden + hidden + positions
    fc_c = embedding + embed * C + C
    assert num_params(FCSpatial(C, spatial_size=(H, W))) == fc_s
    assert num_params(FCChannel(C)) == fc_c
    assert num_params(FCSpatialChannel(C, spatial_size=(H, W))) == fc_s + fc_c
    # re-ID layer1 (256, 64×32): the unshared position weights dominate (paper §2)
    assert num_params(FCSpatial(256, spatial_size=(64, 32))) == (
        256 * 32 + 2 * 32 + 2 * 2048 * 256 + 256 + 2048)


# ---- Wang et al., Eq. 1, 3, 6 -------------------------------------------------------------

def test_non_local_starts_as_the_identity():
    """BN after W_z with zero scale (Wang et al. §4.1): z = x at initialisation."""
    module = NonLocal(C).eval()
    x = torch.randn(2, C, H, W)
    torch.testing.assert_close(module(x), x)


@pytest.mark.parametrize('use_scale', [True, False])
def test_non_local_is_the_embedded_gaussian_weighted_sum(use_scale):
    module = randomize(NonLocal(C, use_scale=use_scale))
    x = torch.randn(2, C, H, W)
    inner = C // 2

    def embed(conv_module):  # (B, N, C/2)
        return F.conv2d(x, conv_module.conv.weight, conv_module.conv.bias).flatten(2).mT

    theta, phi, g = embed(module.theta), embed(module.phi), embed(module.g)
    affinity = theta @ phi.mT / (inner ** 0.5 if use_scale else 1.0)
    y = (affinity.softmax(dim=-1) @ g).mT.reshape(2, inner, H, W)  # Eq. 1 with Eq. 3
    bn = module.conv_out.norm
    w_y = F.batch_norm(F.conv2d(y, module.conv_out.conv.weight), bn.running_mean,
                       bn.running_var, bn.weight, bn.bias, eps=bn.eps)
    torch.testing.assert_close(module(x), w_y + x)  # Eq. 6


def test_non_local_params_follow_the_formula():
    for channels in (C, 512):
        inner = channels // 2
        # θ, φ, g: 1×1 convs with bias; W_z: 1×1 conv without bias (BN follows) + BN
        expected = 3 * (channels * inner + inner) + inner * channels + 2 * channels
        assert num_params(NonLocal(channels)) == expected


def test_non_local_is_mmcvs_block():
    from mmcv.cnn import NonLocal2d
    module = NonLocal(C)
    assert isinstance(module, NonLocal2d)
    assert (module.mode, module.inter_channels, type(module.conv_out.norm).__name__) == (
        'embedded_gaussian', C // 2, 'BatchNorm2d')


# ---- the common convention ----------------------------------------------------------------

ZOO = {
    'SE': {}, 'CBAMChannel': {}, 'CBAMSpatial': {}, 'CBAM': {},
    'FCSpatial': dict(spatial_size=(H, W)), 'FCChannel': {},
    'FCSpatialChannel': dict(spatial_size=(H, W)), 'NonLocal': {},
}


@pytest.mark.parametrize('name', ZOO)
def test_registered_with_in_channels_first_and_shape_preserving(name):
    module = MODELS.build(dict(type=name, in_channels=C, **ZOO[name]))
    x = torch.randn(2, C, H, W)
    assert module(x).shape == x.shape
    from_other_scope = MODELS.build(dict(type=f'rga_mm.{name}', in_channels=C, **ZOO[name]))
    assert type(from_other_scope) is type(module)


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('name', ZOO)
def test_an_empty_batch_gives_an_empty_output_as_rga_does(name, training):
    """(0, C, H, W) out, and in training a zero gradient for every parameter (mmcv's
    NonLocal2d alone cannot reshape a batch of no images)."""
    module = MODELS.build(dict(type=name, in_channels=C, **ZOO[name])).train(training)
    x = torch.randn(0, C, H, W, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad.shape == x.shape
    if training:
        assert all(param.grad is not None and not param.grad.any()
                   for param in module.parameters())


@pytest.mark.parametrize('name', ZOO)
def test_wrong_channel_count_and_non_4d_input(name):
    module = MODELS.build(dict(type=name, in_channels=C, **ZOO[name]))
    with pytest.raises(ValueError, match=f'{name} was built for 32 channels but the feature '
                                         f'map has 16'):
        module(torch.randn(2, 16, H, W))
    with pytest.raises(ValueError, match=f'{name} expects a 4-D .* got a 3-D tensor'):
        module(torch.randn(C, H, W))


@pytest.mark.parametrize('name', ['FCSpatial', 'FCSpatialChannel'])
def test_fc_spatial_names_both_sizes_on_a_mismatch(name):
    module = MODELS.build(dict(type=name, in_channels=C, spatial_size=(H, W)))
    with pytest.raises(ValueError, match=r'built for a 6×4 map but received 8×4.*'
                                         r'spatial_size=\(8, 4\)'):
        module(torch.randn(2, C, 8, 4))


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match=re.escape('SE reduction=16 does not fit its 8 channels '
                                                   '(in_channels)')):
        SE(8)
    with pytest.raises(ValueError, match=re.escape('FCSpatial hidden_reduction=8 does not fit '
                                                   'its 4 positions (spatial_size 2×2)')):
        FCSpatial(C, spatial_size=(2, 2))
    with pytest.raises(ValueError, match='odd kernel_size'):
        CBAMSpatial(C, kernel_size=6)
    with pytest.raises(ValueError, match=r"CBAM mode must be one of \('CS', 'SC', 'S//C'\)"):
        CBAM(C, mode='C')
    with pytest.raises(ValueError, match=r"FCSpatialChannel mode must be one of .* got None$"):
        FCSpatialChannel(C, spatial_size=(4, 4), mode=None)
    assert (CBAM(C, mode='s//c').mode, RGA(C, (4, 4), mode='cs').mode) == ('S//C', 'CS')


def test_as_an_mmcv_plugin():
    """mmcv's build_plugin_layer passes in_channels, as for RGA."""
    name, layer = build_plugin_layer(dict(type='rga_mm.CBAM'), in_channels=C, postfix=1)
    assert name == 'cbam1' and isinstance(layer, CBAM)


def test_after_named_stages_of_an_mm_backbone():
    """StageAttentionBackbone: any zoo module after a stage, non-local after a bottleneck."""
    model = MODELS.build(dict(
        type='StageAttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )),
        attentions={'layer1': dict(type='SE', in_channels=64, reduction=4),
                    'layer2.1': dict(type='NonLocal', in_channels=128),
                    'layer3': dict(type='FCSpatialChannel', in_channels=256,
                                   spatial_size=(4, 2)),
                    'layer4': dict(type='CBAM', in_channels=512)})).eval()
    assert set(model.attentions) == {'layer1', 'layer2_1', 'layer3', 'layer4'}
    assert model(torch.randn(2, 3, 64, 32))[0].shape == (2, 512, 2, 1)


def test_non_local_concatenation_follows_its_definition_and_trains():
    """Wang et al.'s concatenation: f(x_i, x_j) = ReLU(w_fᵀ [θ(x_i), φ(x_j)]), C(x) = N.
    mmcv divides the ReLU's output in place, so its block could not be trained."""
    module = randomize(NonLocal(C, mode='concatenation'))  # W_z's BN scale no longer 0
    inter, nodes = module.inter_channels, 6
    theta, phi = torch.randn(2, inter, nodes, 1), torch.randn(2, inter, 1, nodes)
    w_theta, w_phi = module.concat_project.conv.weight.flatten().split(inter)
    expected = F.relu(torch.einsum('c,bci->bi', w_theta, theta[..., 0])[:, :, None]
                      + torch.einsum('c,bcj->bj', w_phi, phi[:, :, 0])[:, None, :]) / nodes
    torch.testing.assert_close(module.concatenation(theta, phi), expected)
    x = torch.randn(2, C, H, W, requires_grad=True)
    module(x).square().sum().backward()
    assert module.concat_project.conv.weight.grad.abs().sum() > 0 and x.grad is not None


def test_non_local_gaussian_takes_a_map_of_swapped_strides():
    """mmcv views the map itself in the gaussian mode; a transposed map is made contiguous."""
    module = randomize(NonLocal(C, mode='gaussian')).eval()
    swapped = torch.randn(2, C, W, H).transpose(2, 3)
    torch.testing.assert_close(module(swapped), module(swapped.contiguous()))


@pytest.mark.parametrize('name', ZOO)
def test_a_map_without_positions_is_refused_in_one_sentence_as_rga_does(name):
    module = MODELS.build(dict(type=name, in_channels=C, **ZOO[name]))
    with pytest.raises(ValueError) as refused:
        module(torch.randn(2, C, 0, W))
    assert str(refused.value) == (f'{name} received a 0×{W} map: the input image is too small '
                                  f'for the downsampling before {name} to leave at least 1×1 '
                                  f'positions')


def test_non_local_sub_sampling_refuses_a_map_under_two_by_two():
    with pytest.raises(ValueError, match='^NonLocal with sub_sample=True max-pools φ and g by '
                                         '2×2, which leaves nothing of a 1×5 map; build it '
                                         'with sub_sample=False for maps under 2×2$'):
        NonLocal(C, sub_sample=True)(torch.randn(2, C, 1, 5))
    assert NonLocal(C, sub_sample=True)(torch.randn(2, C, 2, 5)).shape == (2, C, 2, 5)
