"""The fused evaluation of RGA's 1×1 ConvModules equals running them one by one (float64)."""
import pytest
import torch
from mmcv.cnn import ConvModule

from rga_mm.models.attention.fused_convs import (
    conv_over_concatenation,
    folded_conv_norm,
    shared_input_convs,
)

NORMS = [dict(type='BN'), dict(type='GN', num_groups=2), None]


def _modules(in_channels, widths, norm_cfg, act=True):
    torch.manual_seed(0)
    modules = [ConvModule(in_channels, width, 1, norm_cfg=norm_cfg,
                          act_cfg=dict(type='ReLU') if act else None).double()
               for width in widths]
    for module in modules:  # non-trivial affine parameters and running statistics
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._NormBase):
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return modules


@pytest.mark.parametrize('norm_cfg', NORMS)
@pytest.mark.parametrize('train', [True, False])
def test_shared_input_convs_equal_each_module(norm_cfg, train):
    fused, reference = _modules(6, [4, 4, 2], norm_cfg), _modules(6, [4, 4, 2], norm_cfg)
    for module in fused + reference:
        module.train(train)
    x = torch.randn(3, 6, 5, 4, dtype=torch.float64)
    expected = [module(x) for module in reference]
    for got, want in zip(shared_input_convs(fused, x), expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for a, b in zip(fused, reference):  # train mode: the same running statistics
        for buffer, reference_buffer in zip(a.buffers(), b.buffers()):
            torch.testing.assert_close(buffer, reference_buffer, rtol=0, atol=1e-12)


@pytest.mark.parametrize('biases', [(True, True, True), (False, True, False)])
def test_shared_input_convs_keep_the_biases_of_normalised_convs(biases):
    """Convolutions with a bias before a training-mode BatchNorm, all or some of them (the
    stacked bias then holds zeros for the others): each module's own output and running
    mean (the normalised output alone would not show a lost bias; the running mean does)."""
    def build():
        torch.manual_seed(0)
        return [ConvModule(6, 4, 1, bias=bias, norm_cfg=dict(type='BN')).double().train()
                for bias in biases]
    fused, reference = build(), build()
    for module in fused:
        if module.conv.bias is not None:
            module.conv.bias.data.uniform_(-0.5, 0.5)
    for module, twin in zip(reference, fused):
        module.load_state_dict(twin.state_dict())
    x = torch.randn(3, 6, 5, 4, dtype=torch.float64)
    for got, want in zip(shared_input_convs(fused, x), [m(x) for m in reference]):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for module, twin in zip(fused, reference):
        torch.testing.assert_close(module.norm.running_mean, twin.norm.running_mean,
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize('norm_cfg', NORMS)
@pytest.mark.parametrize('train', [True, False])
def test_conv_over_concatenation_equals_the_module_on_the_concatenation(norm_cfg, train):
    module, twin = _modules(7, [4], norm_cfg)[0], _modules(7, [4], norm_cfg)[0]
    module.train(train)
    twin.train(train)
    parts = [torch.randn(2, 1, 3, 3, dtype=torch.float64),
             torch.randn(2, 6, 3, 3, dtype=torch.float64)]
    torch.testing.assert_close(conv_over_concatenation(module, parts),
                               twin(torch.cat(parts, dim=1)), rtol=0, atol=1e-12)


def test_folding_happens_only_for_eval_batch_norm_or_no_norm():
    bn, gn, plain = (_modules(4, [2], cfg, act=False)[0] for cfg in NORMS)
    assert folded_conv_norm(bn.train()) is None
    assert folded_conv_norm(gn.eval()) is None
    weight, bias = folded_conv_norm(bn.eval())
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias), bn(x),
                               rtol=0, atol=1e-12)
    weight, bias = folded_conv_norm(plain)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias), plain(x),
                               rtol=0, atol=1e-12)


def test_modules_with_different_activations_are_refused():
    with_relu = _modules(4, [2], None)[0]
    without = _modules(4, [2], None, act=False)[0]
    with pytest.raises(ValueError, match='same activation'):
        shared_input_convs([with_relu, without], torch.randn(1, 4, 2, 2, dtype=torch.float64))


def test_pruned_convs_are_read_with_their_current_mask_applied():
    """torch's pruning recomputes weight = weight_orig · mask in a forward pre-hook, which
    the fused paths, calling no module, run themselves: training steps on a pruned RGA
    (theta, fused with phi and psi; relation_embed, read by the relation product) then give
    the output of the same module with the pruning made permanent. Without it the second
    backward failed, and eval used the weights of pruning time."""
    from torch.nn.utils import prune

    from rga_mm.models.attention import RGA
    torch.manual_seed(0)
    module = RGA(16, (8, 4)).double()
    for conv in (module.spatial_gate.theta.conv, module.channel_gate.relation_embed.conv):
        prune.l1_unstructured(conv, 'weight', amount=0.5)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.randn(2, 16, 8, 4, dtype=torch.float64)
    for _ in range(2):
        optimizer.zero_grad()
        module(x).square().sum().backward()
        optimizer.step()
    module.eval()
    pruned = module(x)
    for conv in (module.spatial_gate.theta.conv, module.channel_gate.relation_embed.conv):
        prune.remove(conv, 'weight')
    assert torch.equal(pruned, module(x))


def test_gradients_of_convs_over_a_channels_last_map_have_the_parameters_strides():
    """RGA's channel gate convolves a channels-last view of its nodes; the weight gradients
    the backward returns for it, (C_in, 1, C_in, C_in) strides, made DistributedDataParallel
    warn that grad strides do not match its buckets' and copy them on a slower path."""
    from rga_mm.models.attention import RGA
    module = RGA(16, (8, 4))
    module(torch.randn(2, 16, 8, 4)).sum().backward()
    module(torch.randn(2, 16, 8, 4).contiguous(memory_format=torch.channels_last)).sum().backward()
    strides = {name: (param.stride(), param.grad.stride())
               for name, param in module.named_parameters() if param.grad is not None}
    assert len(strides) == len(list(module.parameters()))
    assert all(param == grad for param, grad in strides.values()), strides
