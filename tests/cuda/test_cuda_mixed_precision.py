"""RGA-SC under fp16 and bf16 autocast on CUDA, against fp32 (paper §3.2-3.4, §4.1 shapes).

The risk that mixed precision adds to RGA is range, not rounding: the relation terms
R(i, j) = θ_iᵀ φ_j sum over c' embedded channels of post-ReLU values, and ϕ sums 2N of them
(N = 2048 positions at stage 1) before its BN. fp16 stops at 65504; bf16 has fp32's range.
These tests run the four RGA-SC modules of the re-ID network (after ResNet-50 stages 1-4 at a
256×128 input) on a batch of 8, in train mode (BN on batch statistics) and in eval mode
(BN on running statistics gathered from training batches, as after training), and check

* that autocast outputs are finite and close to fp32, and so are both gates;
* that the relation response ϕ(r_p) as computed (before BN in train mode, with the BN
  folded in eval mode), and R where the dense path forms it, stay far below fp16's maximum.

Inputs are post-ReLU features at the scale of a trained ResNet-50's stage outputs:
x = ReLU(z)·2 with z ~ N(0, 1) (mean ≈ 0.8, largest value ≈ 10 over a batch). θ, φ and ψ
end in BN + ReLU, so in train mode (and in eval mode with calibrated statistics) the
relation magnitudes do not depend on the scale of x at all.

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from rga_mm.models.attention import RGA, relation_map
from rga_mm.models.attention.relation import RELATION_PATHS
from cuda_only import CUDA_ONLY, strict_fp32

pytestmark = CUDA_ONLY

# (C, h, w) after ResNet-50 stages 1-4 for a 256×128 input, last stride 1 (paper §4.1)
REID_STAGES = [(256, 64, 32), (512, 32, 16), (1024, 16, 8), (2048, 16, 8)]
BATCH = 8
FP16_MAX = torch.finfo(torch.float16).max  # 65504
# Range: on the CPU (same magnitudes as on CUDA) the largest pre-BN relation response at these
# shapes is 1.1e3 (channel branch of stage 1: R sums over c' = 256 position features, ϕ over
# 2C = 512 relation terms), 59× below fp16's maximum, and max |R| is 140. Trained weights
# (larger BN scales in θ, φ and a larger ϕ) may move it by an order of magnitude: the test asks
# for 16× headroom. (An untrained model in eval mode, whose running statistics are still mean 0
# and variance 1, leaves θ and φ unnormalised and reaches 2e4, 3× below the maximum: hence
# the calibrated statistics of build_rga.)
RANGE_HEADROOM = 16

# Closeness, in units of the format's unit roundoff u: fp16 (10-bit mantissa) u = 2^-11 ≈
# 4.9e-4, bf16 (7 bits) u = 2^-8 ≈ 3.9e-3. Autocast rounds the outputs of the convolutions and
# GEMMs (which accumulate in fp32) to that format, about five times on the way to a gate
# logit; each BN then divides the rounding error of its input by the channel's spread, which
# amplifies it by |mean| / std (up to ~6 here). The sigmoid's slope (≤ 1/4) turns the logit
# error into the gate error, the gate itself is rounded (≤ u/2), and out = x·a_s·a_c adds the
# relative errors of both gates. Measured with CPU autocast, identically for fp16 and bf16
# in units of u: the largest gate and output errors 3u to 14u (a tail over 10^4 to 10^6
# values), the mean gate error 0.5u to 0.9u, the mean output error 1.5u to 3.2u of the mean
# output. The bounds sit 3.4-4.3× above those, as cuBLAS may also add the partial sums of a
# split GEMM in the low precision: largest 48u, mean gate error 4u, mean output error 12u
# (fp16: 2.3e-2, 2.0e-3, 5.9e-3; bf16: 0.19, 1.6e-2, 4.7e-2). A range fault shows as inf or
# NaN; a systematic fault moves gates by far more (ϕ's row and column weights swapped: 430u on
# average).
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
MAX_ERROR_U, MEAN_GATE_ERROR_U, MEAN_OUTPUT_ERROR_U = 48, 4, 12


def reid_features(channels: int, height: int, width: int) -> torch.Tensor:
    """A batch of post-ReLU stage features at ResNet scale (see the module docstring)."""
    return torch.relu(torch.randn(BATCH, channels, height, width, device='cuda')) * 2


def build_rga(channels: int, height: int, width: int, train: bool,
              relation_path: str = 'factorized') -> RGA:
    """RGA-SC in fp32 on CUDA; for eval mode its BN statistics are the average over four
    training batches, as a trained model's are (fresh statistics, mean 0 and variance 1,
    would leave θ and φ unnormalised: no trained model evaluates that way)."""
    torch.manual_seed(channels)
    module = RGA(channels, spatial_size=(height, width), relation_path=relation_path).cuda()
    if not train:
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        with torch.no_grad(), strict_fp32():
            for _ in range(4):
                module(reid_features(channels, height, width))
    return module.train(train)


def output_and_gates(module: RGA, x: torch.Tensor, attended: torch.Tensor) -> tuple:
    """RGA-SC's output for ``x``, its spatial gate for ``x`` and its channel gate for
    ``attended`` (the fp32 x·a_s, so that each gate is compared on the same input)."""
    return module(x), module.spatial_attention(x), module.channel_attention(attended)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('channels, height, width', REID_STAGES)
def test_autocast_output_and_gates_stay_close_to_fp32(channels, height, width, train, dtype):
    module = build_rga(channels, height, width, train)
    x = reid_features(channels, height, width)
    with torch.no_grad(), strict_fp32():
        attended = x * module.spatial_attention(x)
        reference = output_and_gates(module, x, attended)
        with torch.autocast('cuda', dtype=dtype):
            mixed = output_and_gates(module, x, attended)
    unit = UNIT_ROUNDOFF[dtype]
    for name, ref, got in zip(('output', 'spatial gate', 'channel gate'), reference, mixed):
        assert got.shape == ref.shape
        assert torch.isfinite(got).all(), f'{name}: non-finite values under {dtype} autocast'
        error = (got.double() - ref.double()).abs()
        if name == 'output':  # relative to the output's scale
            largest = error.max().item() / ref.abs().max().item()
            mean, mean_bound = error.mean().item() / ref.abs().mean().item(), MEAN_OUTPUT_ERROR_U
        else:  # gates lie in (0, 1): absolute error
            largest, mean, mean_bound = error.max().item(), error.mean().item(), MEAN_GATE_ERROR_U
        assert largest <= MAX_ERROR_U * unit and mean <= mean_bound * unit, (
            f'{name} under {dtype} autocast: largest error {largest / unit:.1f}u (bound '
            f'{MAX_ERROR_U}u), mean error {mean / unit:.2f}u (bound {mean_bound}u), '
            f'u = {unit:.2e}')


@pytest.mark.parametrize('relation_path', ['factorized', 'dense'])
@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('channels, height, width', REID_STAGES)
def test_fp16_relation_response_stays_far_below_the_fp16_maximum(channels, height, width,
                                                                  train, relation_path,
                                                                  monkeypatch):
    """max |ϕ's response| as computed (pre-BN in train mode; with the eval-mode BN folded in,
    in eval mode), and max |R| where the dense path forms it, under fp16 autocast is at most
    65504 / 16 in both branches, and finite; the factorized path's intermediates (Φ W_rowᵀ,
    Θ W_colᵀ) would show up as inf in the response if they overflowed."""
    module = build_rga(channels, height, width, train, relation_path)
    captured = []  # (θ, φ, response) per relation call: the spatial branch first, then channel
    compute = RELATION_PATHS[relation_path]

    def recording(theta, phi, theta_ref, phi_ref, weight, bias=None):
        response = compute(theta, phi, theta_ref, phi_ref, weight, bias)
        captured.append((theta, phi, response))
        return response

    monkeypatch.setitem(RELATION_PATHS, relation_path, recording)
    x = reid_features(channels, height, width)
    quantities = ['response'] + (['R'] if relation_path == 'dense' else [])
    with torch.no_grad(), torch.autocast('cuda', dtype=torch.float16):
        out = module(x)
        values = {}
        for branch, (theta, phi, response) in zip(('spatial', 'channel'), captured):
            values[branch, 'response'] = response
            if 'R' in quantities:  # the R = ΘᵀΦ that the dense path formed
                values[branch, 'R'] = relation_map(theta, phi, theta, phi)
    assert torch.isfinite(out).all()
    for branch in ('spatial', 'channel'):
        for quantity in quantities:
            value = values[branch, quantity]
            assert value.dtype == torch.float16, f'{branch} {quantity} was not fp16 autocast'
            largest = value.float().abs().max().item()
            assert largest <= FP16_MAX / RANGE_HEADROOM, (
                f'{branch} branch: max |{quantity}| = {largest:.4g} under fp16 autocast, '
                f'within {RANGE_HEADROOM}× of the fp16 maximum {FP16_MAX:.0f}')
