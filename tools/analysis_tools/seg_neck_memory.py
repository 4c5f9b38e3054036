"""Parameters, FLOPs and peak forward memory of the segmentation RGA neck (paper §4.2).

    python tools/analysis_tools/seg_neck_memory.py [--channels 2048] [--grid 33 33]
        [--crop 97 97] [--whole 128 256] [--paths factorized dense]

Builds ``RGANeck(channels, spatial_size=grid)`` and reports its parameters, its FLOPs on
the d8 map of a training crop and of a whole image (mmengine's counter: one multiply-add =
one FLOP; the RoIAlign pooling onto the grid, two matrix products, counted with them),
and the peak bytes of tensors created by one eval-mode
forward on the whole-image map under ``torch.no_grad`` (``TensorMemoryTracker``), for each
relation path. It also prints the parameter count of the neck built at other grid sizes.
"""
import argparse
import os
import time
from collections.abc import Sequence

import torch
from mmengine.analysis import FlopAnalyzer

from rga_mm.errors import ConfigError
from rga_mm.models.necks import RGANeck
from rga_mm.testing import TensorMemoryTracker


class Attend(torch.nn.Module):
    """The neck on a bare map (the counter needs a tensor in, a tensor out)."""

    def __init__(self, neck: RGANeck) -> None:
        super().__init__()
        self.neck = neck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck((x,))[0]


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--channels', type=int, default=2048)
    parser.add_argument('--grid', type=int, nargs=2, default=(33, 33))
    parser.add_argument('--crop', type=int, nargs=2, default=(97, 97))
    parser.add_argument('--whole', type=int, nargs=2, default=(128, 256))
    parser.add_argument('--paths', nargs='+', default=['factorized', 'dense'])
    parser.add_argument('--other-grids', type=int, nargs='*', default=[97, 49, 33, 25])
    parser.add_argument('--model-config', help='also run one whole-image forward of this '
                        'segmentation config (slow: ResNet-101 at 1024x2048)')
    parser.add_argument('--image', type=int, nargs=2, default=(1024, 2048))
    args = parser.parse_args(argv)
    if args.model_config and not os.path.isfile(args.model_config):  # before minutes of work
        parser.error(f'--model-config {args.model_config} is no config file')
    for grid in [tuple(args.grid), *((side, side) for side in args.other_grids)]:
        try:  # each grid is refused before any measurement, in RGANeck's own sentence
            RGANeck(args.channels, grid, relation_path='factorized')
        except ConfigError as error:
            parser.error(f'grid {grid[0]}x{grid[1]}: {error}')
    torch.set_grad_enabled(False)

    for side in args.other_grids:
        neck = RGANeck(args.channels, (side, side))
        print(f'grid {side}x{side}: {count_parameters(neck):,} parameters')

    for path in args.paths:
        neck = RGANeck(args.channels, tuple(args.grid), relation_path=path).eval()
        print(f'\n[{path}] grid {args.grid[0]}x{args.grid[1]}, C={args.channels}: '
              f'{count_parameters(neck):,} parameters')
        for name, size in (('crop', args.crop), ('whole', args.whole)):
            x = torch.randn(1, args.channels, *size)
            flops = FlopAnalyzer(Attend(neck), (x,)).unsupported_ops_warnings(False)
            flops = flops.uncalled_modules_warnings(False).total()
            print(f'  {name} map {size[0]}x{size[1]}: {flops / 1e9:.2f} GFLOPs')
        x = torch.randn(1, args.channels, *args.whole)
        start = time.perf_counter()
        with TensorMemoryTracker() as tracker:
            out = neck((x,))[0]
        seconds = time.perf_counter() - start
        print(f'  neck forward on the whole map: peak {tracker.peak_bytes / 2**20:.0f} MiB of '
              f'new tensors, '
              f'largest {tracker.largest_bytes / 2**20:.0f} MiB, input '
              f'{x.numel() * 4 / 2**20:.0f} MiB, output {out.numel() * 4 / 2**20:.0f} MiB, '
              f'{seconds:.2f} s')
        del out
        with TensorMemoryTracker() as tracker:
            neck.rga(x)
        print(f'  RGA alone (no concatenation): peak {tracker.peak_bytes / 2**20:.0f} MiB, '
              f'largest {tracker.largest_bytes / 2**20:.0f} MiB')

    if args.model_config:
        measure_whole_model(args)


def measure_whole_model(args: argparse.Namespace) -> None:
    """One whole-image forward of a segmentation config (plain BN, random weights)."""
    from mmengine.registry import init_default_scope

    from rga_mm.engine.launch import load_config, require_segmentation
    require_segmentation('--model-config (a whole segmentation model)')
    from mmseg.registry import MODELS

    height, width = args.image
    for path in args.paths:
        cfg = load_config(args.model_config)
        cfg.merge_from_dict({
            'model.pretrained': None, 'model.backbone.norm_cfg.type': 'BN',
            'model.neck.norm_cfg.type': 'BN', 'model.decode_head.norm_cfg.type': 'BN',
            'model.auxiliary_head.norm_cfg.type': 'BN', 'model.neck.relation_path': path})
        init_default_scope('mmseg')
        model = MODELS.build(cfg.model).eval()
        image = torch.randn(1, 3, height, width)
        start = time.perf_counter()
        with TensorMemoryTracker() as tracker:
            logits = model(image, mode='tensor')
        seconds = time.perf_counter() - start
        name = args.model_config.split('/')[-1]
        print(f'\n[{path}] whole model {name} on 1x3x{height}x{width}: logits '
              f'{tuple(logits.shape)}, peak {tracker.peak_bytes / 2**20:.0f} '
              f'MiB of new tensors, largest {tracker.largest_bytes / 2**20:.0f} MiB, '
              f'{seconds:.1f} s')
        del model, logits


if __name__ == '__main__':
    main()
