"""CIFAR backbones and where RGA-SC goes in them (paper §4.3)."""
import re

import pytest
import torch

from rga_mm.errors import ConfigError
from rga_mm.models.attention import RGA
from rga_mm.models.backbones import CifarDenseNet, CifarResNet, StageAttentionBackbone
from rga_mm.models.backbones.cifar_densenet import layers_per_block
from official_params import official_param_count


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_cifar_resnet_is_6n_plus_2_with_parameter_free_shortcuts():
    net = CifarResNet(depth=20, out_indices=(0, 1, 2))
    outs = net(torch.zeros(2, 3, 32, 32))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert [len(getattr(net, f'layer{i}')) for i in (1, 2, 3)] == [3, 3, 3]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == 20  # 19 convs + the classifier = depth (option A: no 1×1)
    with pytest.raises(ValueError, match='6n \\+ 2'):
        CifarResNet(depth=100)


@pytest.mark.parametrize('depth', [2, -4, 0, 1, 20.0, '20', True])
def test_cifar_resnet_refuses_depths_without_a_block_per_stage(depth):
    """Below 8 (n = 0 or negative) the network used to be ResNet-8, silently."""
    with pytest.raises(ConfigError, match=rf"CifarResNet depth {re.escape(repr(depth))} is "
                                          r"not 6n \+ 2 with n >= 1: pass one of 8, 14, 20"):
        CifarResNet(depth)


def test_cifar_resnet_8_has_one_block_per_stage():
    net = CifarResNet(8)
    assert [len(getattr(net, f'layer{i}')) for i in (1, 2, 3)] == [1, 1, 1]


def test_densenet_layers_per_block_follow_huang_et_al():
    assert layers_per_block(100, bottleneck=False) == (32, 32, 32)
    assert layers_per_block(115, bottleneck=False) == (37, 37, 37)
    assert layers_per_block(100, bottleneck=True) == (16, 16, 16)
    with pytest.raises(ValueError, match='num_layers'):
        layers_per_block(115, bottleneck=True)


def test_densenet_bc_transition1_is_the_papers_16x16x108_map():
    net = CifarDenseNet(depth=100, bottleneck=True, compression=0.5)
    assert net.out_channels == [108, 150, 342]
    seen = {}
    net.transition1.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    assert net(torch.zeros(1, 3, 32, 32))[0].shape == (1, 342, 8, 8)
    assert tuple(seen['shape']) == (1, 108, 16, 16)  # 24 + 16·12 = 216, halved, pooled


@pytest.mark.parametrize('backbone, stage, map_shape, reduction', [
    # ResNet: after the first stage, 16 channels at 32×32, s1 = s2 = 4
    (dict(type='CifarResNet', depth=20), 'layer1', (16, 32, 32), 4),
    # DenseNet-BC (L = 40 for speed): after block 1 + transition, (24 + 6·12)/2 at 16×16
    (dict(type='CifarDenseNet', depth=40, bottleneck=True, compression=0.5), 'transition1',
     (48, 16, 16), 8),
])
def test_rga_sc_runs_on_the_stage_the_paper_names(backbone, stage, map_shape, reduction):
    channels, height, width = map_shape
    model = StageAttentionBackbone(
        backbone=backbone,
        attentions={stage: dict(type='RGA', in_channels=channels, spatial_size=(height, width),
                                mode='SC', reduction=reduction, gate_reduction=reduction)})
    seen = {}
    model.attentions[stage].register_forward_hook(
        lambda m, i, o: seen.update(shape=tuple(i[0].shape)))
    out = model(torch.zeros(2, 3, 32, 32))[0]
    assert seen['shape'] == (2, *map_shape)
    assert out.shape[-2:] == (8, 8)


def test_rga_sc_parameter_costs_of_the_cifar_placements():
    """The counts are the official RGA_Module's (tests/official_params.py); the literals
    are that formula's values, kept because they tie to Table 7: its differences between a
    network with RGA-SC and without."""
    # ResNet-110: (16, 32×32), s1 = s2 = 4: the 1.3 M between Table 7's 1.7 M and 3.0 M
    resnet = _count(RGA(16, (32, 32), mode='SC', reduction=4, gate_reduction=4))
    assert resnet == official_param_count(16, 32 * 32, 4) == 1329772
    assert resnet == pytest.approx(3.0e6 - 1.7e6, rel=0.03)
    # DenseNet-BC: (108, 16×16), s1 = s2 = 8: the 0.05 M between 0.8 M and 0.85 M
    densenet = _count(RGA(108, (16, 16), mode='SC', reduction=8, gate_reduction=8))
    assert densenet == official_param_count(108, 16 * 16, 8) == 48505
    assert densenet == pytest.approx(0.85e6 - 0.8e6, rel=0.03)


@pytest.mark.parametrize('build', [lambda **kw: CifarResNet(20, **kw),
                                   lambda **kw: CifarDenseNet(40, **kw)],
                         ids=['resnet', 'densenet'])
def test_out_indices_count_from_the_end_and_are_checked(build):
    x = torch.randn(2, 3, 32, 32)
    last, both = build(out_indices=(-1, )), build(out_indices=(0, -1))
    last.load_state_dict(both.state_dict())
    last.eval()
    both.eval()
    with torch.no_grad():
        only, (first, also_last) = last(x), both(x)
    assert len(only) == 1 and torch.equal(only[0], also_last)
    assert first.shape[-1] > also_last.shape[-1] == 8
    for bad in ((3, ), (-4, ), ()):
        with pytest.raises(ValueError, match=r'out_indices takes one or more of the stages '
                                             r'0\.\.2 \(or -3\.\.-1 from the last\), got'):
            build(out_indices=bad)


@pytest.mark.parametrize('build', [lambda **kw: CifarResNet(20, **kw),
                                   lambda **kw: CifarDenseNet(40, **kw)])
def test_one_pretrained_init_cfg_loads_the_checkpoint(build, tmp_path):
    """mmengine's usual ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (one dict, not
    a list) loads every tensor of the checkpoint."""
    source = build()
    source.init_weights()
    path = tmp_path / 'backbone.pth'
    torch.save(source.state_dict(), path)
    loaded = build(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded.init_weights()
    for name, tensor in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
