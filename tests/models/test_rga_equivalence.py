"""Paper §3.2-3.4: the RGA family, checked against a literal reading of Eq. (1)-(3).

The dense path must equal a per-node construction of r_p = [R(p, :), R(:, p)], and the
factorized path must equal the dense one (values and gradients, float64, train and eval).
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from rga_mm.models.attention import RGA
from rga_mm.models.attention.rga import MODES

ABLATIONS = [dict(), dict(use_relation=False), dict(use_appearance=False)]


def _randomise_norms(module: torch.nn.Module) -> None:
    """Give every BN non-trivial affine parameters and running statistics."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


def _twin_modules(**kwargs):
    dense = RGA(relation_path='dense', **kwargs).double()
    _randomise_norms(dense)
    factorized = RGA(relation_path='factorized', **kwargs).double()
    factorized.load_state_dict(dense.state_dict())
    return dense, factorized


@pytest.mark.parametrize('mode,ablation,train', list(
    itertools.product(MODES, ABLATIONS, [True, False])))
def test_dense_and_factorized_paths_agree(mode, ablation, train):
    dense, factorized = _twin_modules(
        in_channels=8, spatial_size=(6, 4), mode=mode, reduction=2, gate_reduction=2,
        **ablation)
    dense.train(train)
    factorized.train(train)
    x = torch.randn(3, 8, 6, 4, dtype=torch.float64)
    x_dense = x.clone().requires_grad_()
    x_fact = x.clone().requires_grad_()
    upstream = torch.randn(3, 8, 6, 4, dtype=torch.float64)
    out_dense = dense(x_dense)
    out_fact = factorized(x_fact)
    (out_dense * upstream).sum().backward()
    (out_fact * upstream).sum().backward()

    assert out_dense.shape == x.shape
    torch.testing.assert_close(out_fact, out_dense, rtol=0, atol=1e-10)
    torch.testing.assert_close(x_fact.grad, x_dense.grad, rtol=0, atol=1e-10)
    dense_params = dict(dense.named_parameters())
    for name, param in factorized.named_parameters():
        torch.testing.assert_close(param.grad, dense_params[name].grad, rtol=0, atol=1e-10,
                                   msg=name)
    if train:  # BN statistics were updated from identical responses
        dense_buffers = dict(dense.named_buffers())
        for name, buf in factorized.named_buffers():
            torch.testing.assert_close(buf, dense_buffers[name], rtol=0, atol=1e-10)


def _conv_bn(module, x, act=True):
    """Apply a ConvModule's conv → BN(eval) [→ ReLU] with plain functional calls."""
    bn = module.norm
    y = F.conv2d(x, module.conv.weight)
    y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0., bn.eps)
    return F.relu(y) if act else y


def _literal_gate_logits(gate, node_map):
    """Eq. (1)-(3) node by node: r_p = [R(p, :), R(:, p)], y_p = [pool_c ψ(x_p), ϕ(r_p)]."""
    batch, _, height, width = node_map.shape
    num_nodes = height * width
    theta = _conv_bn(gate.theta, node_map).flatten(2)  # (B, c', N)
    phi = _conv_bn(gate.phi, node_map).flatten(2)
    logits = torch.empty(batch, 1, num_nodes, dtype=node_map.dtype)
    for b in range(batch):
        affinity = torch.empty(num_nodes, num_nodes, dtype=node_map.dtype)
        for i in range(num_nodes):
            for j in range(num_nodes):
                affinity[i, j] = theta[b, :, i] @ phi[b, :, j]  # Eq. (1)
        for p in range(num_nodes):
            r_p = torch.cat((affinity[p, :], affinity[:, p]))  # row first, then column
            relation = _conv_bn(gate.relation_embed, r_p.view(1, -1, 1, 1))
            appearance = _conv_bn(gate.appearance_embed,
                                  node_map[b:b + 1, :, p // width, p % width, None, None])
            y_p = torch.cat((appearance.mean(1, keepdim=True), relation), dim=1)  # Eq. (2)
            hidden = _conv_bn(gate.gate_mlp[0], y_p)
            logits[b, 0, p] = _conv_bn(gate.gate_mlp[1], hidden, act=False).flatten()[0]
    return logits.view(batch, 1, height, width)


@pytest.mark.parametrize('relation_path', ['dense', 'factorized'])
def test_rga_sc_follows_the_papers_equations(relation_path):
    """RGA-SC (§3.4): spatial gate from x, channel gate from the spatially gated map."""
    module = RGA(6, spatial_size=(3, 2), reduction=2, gate_reduction=2,
                 relation_path=relation_path).double().eval()
    _randomise_norms(module)
    x = torch.randn(2, 6, 3, 2, dtype=torch.float64)

    spatial_gate = torch.sigmoid(_literal_gate_logits(module.spatial_gate, x))
    x_hat = x * spatial_gate
    # channel nodes: the C channels, each with its H·W values as features (§3.3)
    channel_view = x_hat.flatten(2).transpose(1, 2).unsqueeze(-1)  # (B, N, C, 1)
    channel_gate = torch.sigmoid(_literal_gate_logits(module.channel_gate, channel_view))
    expected = x_hat * channel_gate.view(2, 6, 1, 1)

    torch.testing.assert_close(module(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('mode', MODES)
def test_mode_composition(mode):
    """S, C, SC, CS and S//C compose the two gates as §3.4 describes."""
    module = RGA(4, spatial_size=(4, 4), mode=mode, reduction=2, gate_reduction=2).eval()
    x = torch.randn(2, 4, 4, 4)
    out = module(x)
    if mode == 'S':
        expected = x * module.spatial_attention(x)
    elif mode == 'C':
        expected = x * module.channel_attention(x)
    elif mode == 'SC':
        x_hat = x * module.spatial_attention(x)
        expected = x_hat * module.channel_attention(x_hat)
    elif mode == 'CS':
        x_hat = x * module.channel_attention(x)
        expected = x_hat * module.spatial_attention(x_hat)
    else:
        expected = x * module.spatial_attention(x) * module.channel_attention(x)
    torch.testing.assert_close(out, expected)
    assert hasattr(module, 'spatial_gate') == ('S' in mode)
    assert hasattr(module, 'channel_gate') == ('C' in mode)


def test_ablations_drop_the_right_terms():
    """'w/o Rel.' keeps only pool_c(ψ(x)); 'w/o Vis.' keeps only ϕ(r)."""
    no_rel = RGA(8, spatial_size=(4, 4), mode='S', reduction=2, use_relation=False)
    no_vis = RGA(8, spatial_size=(4, 4), mode='S', reduction=2, use_appearance=False)
    names_no_rel = {n.split('.')[1] for n, _ in no_rel.named_parameters()}
    names_no_vis = {n.split('.')[1] for n, _ in no_vis.named_parameters()}
    assert names_no_rel == {'appearance_embed', 'gate_mlp'}
    assert names_no_vis == {'theta', 'phi', 'relation_embed', 'gate_mlp'}
    # W1 input widths: 1 for w/o Rel., N / s1 = 8 for w/o Vis.
    assert no_rel.spatial_gate.gate_mlp[0].conv.in_channels == 1
    assert no_vis.spatial_gate.gate_mlp[0].conv.in_channels == 8
