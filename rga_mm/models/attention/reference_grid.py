"""Pooling a feature map onto RGA's reference grid (paper §4.2, Discussion).

A module built for an h × w map reads relations against h·w reference nodes. For a map of
another size the embeddings are pooled to (h, w) as RoIAlign does over the whole map
(``aligned=True``, ``sampling_ratio=0``, average), so that every 1×1 convolution over
relations or positions sees exactly the length it was built for.

RoIAlign over the box [0, 0, W, H] is separable, and is computed here as exact linear
algebra rather than through a compiled op: a sample point (y, x) is bilinearly interpolated
with weights that factor into a y part and an x part, and each output bin averages a
regular S_h × S_w lattice of such points. So the pooled map is ``A_h · X · A_wᵀ``, where
row i of A_h (h × H) holds the interpolation weights of the S_h sample rows of bin i,
averaged. Sample row s of bin i lies at ``y = -0.5 + (i + (s + 0.5) / S_h) · H / h`` with
``S_h = ⌈H / h⌉`` (RoIAlign's adaptive sampling); a sample below -1 or above H contributes
nothing, one in [-1, 0] is clamped to 0 and one at or beyond H - 1 takes row H - 1 alone,
exactly as RoIAlign interpolates. The two products are plain matrix multiplications: pure
torch, differentiable, on any device and dtype, and two MatMuls in an exported graph.
"""
import functools
import math

import torch
from torch import Tensor


def _pooling_matrix_float64(in_size: int, out_size: int) -> Tensor:
    """The (out_size, in_size) matrix of :func:`pooling_matrix` in float64 on the CPU.

    Every sample point at once, in a few elementwise operations and one sum (its two
    neighbours found by comparison with the column index, no scatter), so that a traced
    graph stays small whatever the sizes and an exporter can fold it into one constant.
    """
    samples = math.ceil(in_size / out_size)
    index = torch.arange(out_size, dtype=torch.float64).view(-1, 1, 1)  # (out_size, 1, 1)
    sample = torch.arange(samples, dtype=torch.float64).view(1, -1, 1)  # (1, samples, 1)
    # -0.5 + (index + (sample + 0.5) / samples) · in_size / out_size, as one division of
    # integers: every constant is an int, so any exporter folds it to the same doubles
    numerator = (2 * (index * samples + sample) + 1) * in_size
    coord = numerator / (2 * out_size * samples) - 0.5
    inside = (coord >= -1.0) & (coord <= in_size)
    coord = coord.clamp(min=0.0)
    low = coord.floor()
    frac = coord - low
    at_end = low >= in_size - 1  # the last row alone, with weight 1
    low = low.clamp(max=in_size - 1)
    column = torch.arange(in_size, dtype=torch.float64)  # (in_size,)
    weights = (torch.where(at_end, 1.0, 1.0 - frac) * (column == low)
               + torch.where(at_end, 0.0, frac) * (column == low + 1)) * inside
    return weights.sum(dim=1) / samples  # (out_size, samples, in_size) → (out_size, in_size)


def pooling_matrix(in_size: int, out_size: int, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = 'cpu') -> Tensor:
    """RoIAlign's whole-axis pooling as a matrix: (out_size, in_size).

    ``pooling_matrix(H, h) @ v`` pools a length-H signal ``v`` onto h bins exactly as
    RoIAlign (aligned, adaptive sampling) pools one axis of the box [0, H]. Every row sums
    to 1; with ``in_size == out_size`` the matrix is the identity. The weights are computed
    in float64 and then cast; the result is cached per (sizes, dtype, device) and shared, so
    it must not be modified in place. While a graph is traced (``torch.export``,
    ``torch.compile``, ONNX export) the matrix is built afresh and not cached: a traced
    tensor in the cache would be returned to later eager calls.
    """
    for size, what in ((in_size, 'feature map side'), (out_size, 'reference grid side')):
        if size < 1:
            raise ValueError(f'a {what} must be at least 1 to pool onto RGA\'s reference '
                             f'grid, got {size}')
    if torch.compiler.is_compiling():
        return _pooling_matrix_float64(in_size, out_size).to(device=device, dtype=dtype)
    return _cached_pooling_matrix(in_size, out_size, dtype, device)


@functools.lru_cache(maxsize=128)
def _cached_pooling_matrix(in_size: int, out_size: int, dtype: torch.dtype,
                           device: torch.device | str) -> Tensor:
    """:func:`pooling_matrix` of eager calls, built once per (sizes, dtype, device)."""
    with torch.inference_mode(False):  # a cached inference tensor would break training later
        return _pooling_matrix_float64(in_size, out_size).to(device=device, dtype=dtype)


def pool_to_grid(features: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """RoIAlign ``features`` (B, C, H, W) over the whole map to (B, C, h, w).

    An axis whose length already equals the grid's is left untouched, so with
    (H, W) == (h, w) this returns ``features`` itself (each bin samples its own pixel
    centre: the pooling matrix is the identity).
    """
    if features.dim() != 4 or 0 in features.shape:
        raise ValueError(f'pooling onto the reference grid needs a non-empty (B, C, H, W) '
                         f'feature map, got shape {tuple(features.shape)}')
    height, width = features.shape[-2:]
    grid_height, grid_width = grid_size
    pooled = features
    if grid_height != height:
        rows = pooling_matrix(height, grid_height, features.dtype, features.device)
        pooled = torch.matmul(rows, pooled)  # (h, H) · (B, C, H, W) → (B, C, h, W)
    if grid_width != width:
        cols = pooling_matrix(width, grid_width, features.dtype, features.device)
        pooled = torch.matmul(pooled, cols.t())  # (B, C, h, W) · (W, w) → (B, C, h, w)
    return pooled
