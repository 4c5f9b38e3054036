"""RGA's reference grid against mmcv's compiled RoIAlign: largest difference and CPU time.

A variable-size RGA module pools a map onto its reference grid as RoIAlign pools the whole
map (``aligned=True``, adaptive sampling, average); rga_mm computes that pooling as two
matrix products (``rga_mm.models.attention.reference_grid.pool_to_grid``, docs/architecture.md,
"Variable input sizes"). This compares it with ``mmcv.ops.roi_align`` over the box
[0, 0, W, H] on random float32 maps: down-, up-, odd and non-square sizes, and a
segmentation-sized map. The two differ by mmcv's float32 sample coordinates; the times are
the fastest of ``--repeats`` runs of each. Needs mmcv with its compiled ops (the test
command's environment, ``pip install .[seg]``).

    python tools/analysis_tools/benchmark_reference_grid.py [--repeats 5]
"""
import argparse
from collections.abc import Sequence

import torch
from prettytable import PrettyTable
from torch import Tensor

from rga_mm.deployment.arguments import positive_int_arg
from rga_mm.models.attention.reference_grid import pool_to_grid
from rga_mm.testing import fastest_seconds

# (B, C, H, W) → (h, w): the sizes of the reference-grid tests, a non-square and odd pair,
# an up-sampling, and the 1024×2048 Cityscapes d8 map onto a 33×33 grid
CASES = (((2, 4, 128, 256), (97, 97)),
         ((2, 8, 37, 23), (16, 8)),
         ((2, 8, 9, 5), (16, 8)),
         ((2, 256, 128, 256), (33, 33)))


def whole_map_roi_align(features: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """``mmcv.ops.roi_align`` of every map over its whole extent: (B, C, h, w)."""
    from mmcv.ops import roi_align
    batch, _, height, width = features.shape
    boxes = torch.tensor([[i, 0., 0., width, height] for i in range(batch)])
    return roi_align(features, boxes, grid_size, 1.0, 0, 'avg', True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=positive_int_arg, default=5)
    args = parser.parse_args(argv)
    try:
        import mmcv.ops  # noqa: F401
    except ImportError as error:
        raise SystemExit(f'this comparison needs mmcv with its compiled ops ({error}); '
                         'install the segmentation extra: pip install .[seg]') from None
    torch.manual_seed(0)
    table = PrettyTable(['B × C × H × W', 'grid h × w', 'max |Δ|', 'max |Δ| / max |x|',
                         'grid ms', 'mmcv ms', 'mmcv / grid'])
    for shape, grid_size in CASES:
        features = torch.randn(shape)
        ours = pool_to_grid(features, grid_size)
        theirs = whole_map_roi_align(features, grid_size)
        difference = (ours - theirs).abs().max().item()
        grid_ms = 1e3 * fastest_seconds(lambda: pool_to_grid(features, grid_size), args.repeats)
        mmcv_ms = 1e3 * fastest_seconds(lambda: whole_map_roi_align(features, grid_size),
                                         args.repeats)
        table.add_row([' × '.join(map(str, shape)), ' × '.join(map(str, grid_size)),
                       f'{difference:.1e}', f'{difference / features.abs().max().item():.1e}',
                       f'{grid_ms:.2f}', f'{mmcv_ms:.2f}', f'{mmcv_ms / grid_ms:.1f}×'])
    print(f'reference grid vs mmcv.ops.roi_align, float32, {torch.get_num_threads()} CPU '
          f'threads, fastest of {args.repeats}')
    print(table)


if __name__ == '__main__':
    main()
