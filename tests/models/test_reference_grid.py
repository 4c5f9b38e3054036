"""The reference grid's pooling (paper §4.2, Discussion) as separable linear algebra.

The reference below is RoIAlign written from its definition (aligned=True, spatial scale 1,
adaptive sampling, average) over the box [0, 0, W, H]: every sample point of every bin is
bilinearly interpolated on its own from its four neighbours, then the bin averages them.
"""
import math

import pytest
import torch

from rga_mm.models.attention.reference_grid import pool_to_grid, pooling_matrix


def bilinear_sample(features: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """RoIAlign's bilinear interpolation of (C, H, W) ``features`` at (y, x): (C,)."""
    height, width = features.shape[-2:]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return features.new_zeros(features.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * features[:, y_low, x_low] + hy * lx * features[:, y_low, x_high]
            + ly * hx * features[:, y_high, x_low] + ly * lx * features[:, y_high, x_high])


def roi_align_whole_map(features: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """RoIAlign of (B, C, H, W) over [0, 0, W, H] to (B, C, h, w), one point at a time."""
    batch, channels, height, width = features.shape
    out_h, out_w = out_size
    bin_h, bin_w = height / out_h, width / out_w
    samples_h, samples_w = math.ceil(height / out_h), math.ceil(width / out_w)
    out = features.new_zeros(batch, channels, out_h, out_w)
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                total = features.new_zeros(channels)
                for sy in range(samples_h):
                    y = -0.5 + i * bin_h + (sy + 0.5) * bin_h / samples_h
                    for sx in range(samples_w):
                        x = -0.5 + j * bin_w + (sx + 0.5) * bin_w / samples_w
                        total += bilinear_sample(features[b], y, x)
                out[b, :, i, j] = total / (samples_h * samples_w)
    return out


@pytest.mark.parametrize('in_size,out_size', [
    ((3, 2), (7, 5)),      # up-sampling on both axes
    ((13, 9), (4, 3)),     # down-sampling, several samples per bin
    ((16, 8), (5, 11)),    # down on one axis, up on the other
    ((11, 7), (3, 2)),     # odd sizes, uneven bins
    ((7, 5), (7, 3)),      # one axis already at the grid size
])
def test_equals_roi_align_from_its_definition(in_size, out_size):
    features = torch.randn(2, 3, *in_size, dtype=torch.float64)
    torch.testing.assert_close(pool_to_grid(features, out_size),
                               roi_align_whole_map(features, out_size), rtol=0, atol=1e-12)


@pytest.mark.parametrize('size', [1, 2, 7, 97])
def test_the_matrix_is_exactly_the_identity_at_equal_sizes(size):
    assert torch.equal(pooling_matrix(size, size), torch.eye(size, dtype=torch.float64))


def test_equal_sizes_return_the_map_itself():
    features = torch.randn(2, 5, 7, 3)
    assert pool_to_grid(features, (7, 3)) is features


@pytest.mark.parametrize('in_size,out_size', [(5, 3), (3, 8), (128, 33), (97, 33)])
def test_rows_are_averages(in_size, out_size):
    """Each bin averages interpolation weights, so every row of A sums to 1."""
    rows = pooling_matrix(in_size, out_size).sum(dim=1)
    torch.testing.assert_close(rows, torch.ones(out_size, dtype=torch.float64),
                               rtol=0, atol=1e-14)


def test_gradients_match_finite_differences():
    features = torch.randn(1, 2, 7, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: pool_to_grid(x, (3, 4)), (features, ))


def test_a_grid_first_used_under_inference_mode_still_trains():
    """The pooling matrices are cached: one made under ``torch.inference_mode`` must not be an
    inference tensor, which autograd refuses to save for a later backward pass."""
    with torch.inference_mode():
        pool_to_grid(torch.randn(1, 2, 11, 6), (5, 4))
    features = torch.randn(1, 2, 11, 6, requires_grad=True)
    pool_to_grid(features, (5, 4)).sum().backward()
    assert features.grad.abs().sum() > 0


def test_tracing_a_graph_leaves_no_traced_matrix_for_eager_calls():
    """torch.export (as the ONNX exporter uses it) traces with fake tensors; a matrix made
    then must not be cached and handed to a later eager call."""

    class Pool(torch.nn.Module):
        def forward(self, x):
            return pool_to_grid(x, (4, 3))

    torch.export.export(Pool(), (torch.randn(1, 2, 13, 10), ))
    features = torch.randn(1, 2, 13, 10, dtype=torch.float64)
    pooled = pool_to_grid(features.float(), (4, 3))
    assert type(pooled) is torch.Tensor
    torch.testing.assert_close(pooled.double(), roi_align_whole_map(features, (4, 3)),
                               rtol=0, atol=1e-6)


def test_a_compiled_graph_does_not_grow_with_the_map_size():
    """Under torch.compile the matrices are built inside the graph: a few tensor operations,
    not one per weight (a 97 → 33 pooling has 198 sample points per axis)."""
    node_counts = []

    def counting_backend(graph_module, example_inputs):
        node_counts.append(len(graph_module.graph.nodes))
        return graph_module.forward

    for (height, width), grid in (((12, 10), (8, 8)), ((97, 97), (33, 33))):
        torch._dynamo.reset()
        pool = torch.compile(lambda x, grid=grid: pool_to_grid(x, grid),
                             backend=counting_backend, fullgraph=True)
        features = torch.randn(1, 2, height, width, dtype=torch.float64)
        torch.testing.assert_close(pool(features), roi_align_whole_map(features, grid),
                                   rtol=0, atol=1e-12)
    assert max(node_counts) < 100, node_counts


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_keeps_the_dtype_and_device(dtype):
    features = torch.randn(2, 3, 9, 6).to(dtype)
    pooled = pool_to_grid(features, (4, 4))
    assert pooled.dtype == dtype and pooled.device == features.device
    reference = roi_align_whole_map(features.double(), (4, 4))
    tolerance = {torch.float32: 1e-6, torch.float64: 1e-12, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(pooled.double(), reference, rtol=0, atol=tolerance)


def test_close_to_mmcv_roi_align_when_its_ops_are_built():
    """mmcv computes its sample coordinates in float32: the two differ by that rounding."""
    mmcv_ops = pytest.importorskip('mmcv.ops', reason='mmcv was installed without its ops')
    features = torch.randn(2, 4, 128, 256)
    boxes = torch.tensor([[0.0, 0.0, 0.0, 256.0, 128.0], [1.0, 0.0, 0.0, 256.0, 128.0]])
    expected = mmcv_ops.roi_align(features, boxes, (97, 97), 1.0, 0, 'avg', True)
    torch.testing.assert_close(pool_to_grid(features, (97, 97)), expected,
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize('grid', [(0, 4), (4, -2)])
def test_a_grid_side_below_one_is_one_clear_error(grid):
    with pytest.raises(ValueError, match='reference grid side must be at least 1'):
        pool_to_grid(torch.randn(1, 2, 8, 8), grid)


@pytest.mark.parametrize('shape', [(1, 2, 0, 8), (0, 2, 8, 8), (2, 8, 8)])
def test_an_empty_or_malformed_map_is_one_clear_error(shape):
    with pytest.raises(ValueError, match=r'non-empty \(B, C, H, W\) feature map'):
        pool_to_grid(torch.randn(*shape), (4, 4))
