"""RGA's factorized relations equal the paper's dense ones on CUDA (paper §3.2, Eq. 1-2).

The dense path forms R = ΘᵀΦ (N×N) and feeds the 2N relation channels
r_p = [R(p, :), R(:, p)] to ϕ; the factorized path computes the same pre-BN response as
(W_row Φᵀ) Θ + (W_col Θᵀ) Φ.
On the CPU tests/models/test_rga_equivalence.py proves them equal; here cuBLAS and cuDNN
compute both, at the re-ID shapes of paper §4.1 (ResNet-50 stages 1 and 4 at a 256×128
input), so the two paths also take different kernels (batched GEMMs of other shapes).

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import copy

import pytest
import torch

from rga_mm.models.attention import RGA
from cuda_only import CUDA_ONLY, relative_error, strict_fp32

pytestmark = CUDA_ONLY

# (C, h, w) after ResNet-50 stages 1 and 4 for a 256×128 input, last stride 1 (paper §4.1)
REID_SHAPES = [(256, 64, 32), (2048, 16, 8)]

# Tolerances, as max |Δ| / max |reference|. fp32 rounds to u = 2^-24 ≈ 6e-8. The longest
# sums are ϕ's over the 2N relation channels (4096 terms at stage 1; the factorized path's
# W_row Φᵀ sums over the N positions instead) and R's over c' = C/8 channels. Summed in
# another order, such a sum moves by about √n·u ≈ 4e-6 of its scale (rounding errors add like
# a random walk) and by n·u ≈ 2.4e-4 at worst. BN renormalises and the sigmoid (slope ≤ 1/4)
# compresses what reaches the gate, and out = x·gate carries it unchanged: outputs must agree
# within 1e-4 (the CPU measured 2e-6 to 4e-6).
# Gradients add one effect that values do not have: ReLU's derivative jumps at 0, so a unit
# whose pre-activation lies within rounding distance of 0 (BN centres them there; ϕ alone has
# n'·N ≈ 5·10^5 per image at stage 1) can take the other branch in one path. Each such flip
# changes the gradients by that unit's share, locally: on an H200 one flip moved the input
# gradient of stage 4 by 3.6e-2 of its largest value in the dense path (against float64), so
# the largest element is no measure of agreement; input gradients are compared by their
# relative norm ‖Δ‖ / ‖reference‖, where a few local flips weigh little. Measured on an H200 at
# stage 4: 2.1e-3 between the paths (dense 2.1e-3 from float64, factorized 2.1e-4); 1e-2 leaves
# 5× for other GPUs, and a wrong backward is off by O(1).
# Parameter gradients are compared in float64 only. In fp32 the dense path's own rounding
# swamps them: its channel branch at stage 4 sums 2C = 4096 relation channels in ϕ before a
# train-mode BN, whose backward subtracts nearly equal sums, and on an H200 the gradient of the
# gate's first BN weight came out 7.4e-2 (in norm) from float64 against 3.7e-3 for the
# factorized path. In float64 rounding and flips do not matter: there the two paths must agree
# to 1e-10, values, input and parameter gradients (the factorization is exact algebra).
OUTPUT_TOLERANCE = 1e-4
GRADIENT_NORM_TOLERANCE = 1e-2
FLOAT64_TOLERANCE = 1e-10


def norm_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """‖actual − expected‖ / ‖expected‖ over all elements (the absolute norm where
    ``expected`` is all zero)."""
    expected = expected.double()
    scale = expected.norm().item() or 1.0
    return (actual.double() - expected).norm().item() / scale


def forward_backward(module: RGA, x: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Output, input gradient and parameter gradients of ``(module(x) · upstream).sum()``."""
    module.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    out = module(x)
    (out * upstream).sum().backward()
    grads = {name: p.grad.detach().clone() for name, p in module.named_parameters()}
    return dict(out=out.detach(), input_grad=x.grad.detach(), **grads)


def paired_modules(channels: int, height: int, width: int) -> tuple[RGA, RGA]:
    """RGA-SC (s1 = s2 = 8) with dense and with factorized relations, equal weights, on CUDA."""
    torch.manual_seed(0)
    dense = RGA(channels, spatial_size=(height, width), relation_path='dense').cuda()
    factorized = RGA(channels, spatial_size=(height, width), relation_path='factorized').cuda()
    factorized.load_state_dict(dense.state_dict())
    return dense, factorized


@pytest.mark.parametrize('channels, height, width', REID_SHAPES)
def test_dense_and_factorized_relations_agree_in_fp32(channels, height, width):
    """Batch 4, train-mode BN: outputs agree element by element and input gradients in norm,
    within fp32 rounding (parameter gradients: the float64 test below)."""
    dense, factorized = paired_modules(channels, height, width)
    x = torch.relu(torch.randn(4, channels, height, width, device='cuda'))
    upstream = torch.randn_like(x)
    with strict_fp32():
        results = {module.spatial_gate.relation_path: forward_backward(module, x, upstream)
                   for module in (dense, factorized)}
        # float64 on the GPU: how far each fp32 path is from exact, for the failure message
        exact = forward_backward(copy.deepcopy(dense).double(), x.double(), upstream.double())
    assert all(torch.isfinite(t).all() for r in results.values() for t in r.values())

    for key in ('out', 'input_grad'):
        measure, tolerance = ((relative_error, OUTPUT_TOLERANCE) if key == 'out'
                              else (norm_error, GRADIENT_NORM_TOLERANCE))
        error = measure(results['factorized'][key], results['dense'][key])
        assert error <= tolerance, (
            f'{key}: dense and factorized differ by {error:.2e} ({measure.__name__}, '
            f'tolerance {tolerance:.0e}); against float64, dense is off by '
            f"{measure(results['dense'][key], exact[key]):.2e}, factorized by "
            f"{measure(results['factorized'][key], exact[key]):.2e}")


@pytest.mark.parametrize('channels, height, width', REID_SHAPES)
def test_dense_and_factorized_relations_are_equal_in_float64(channels, height, width):
    """The factorization is exact algebra: in float64 on CUDA's kernels the two paths agree
    to 1e-10 of the largest value, outputs, input gradients and every parameter gradient."""
    dense, factorized = (module.double() for module in paired_modules(channels, height, width))
    x = torch.relu(torch.randn(4, channels, height, width, device='cuda', dtype=torch.float64))
    upstream = torch.randn_like(x)
    results = [forward_backward(module, x, upstream) for module in (dense, factorized)]
    for key in results[0]:
        error = relative_error(results[1][key], results[0][key])
        assert error <= FLOAT64_TOLERANCE, f'{key}: differ by {error:.2e} of the largest value'
