"""Parameters, FLOPs and peak forward memory of the segmentation RGA neck (paper §4.2).

    python tools/analysis_tools/seg_neck_memory.py [--channels 2048] [--grid 33 33]
        [--crop 97 97] [--whole 128 256] [--paths factorized dense]

Builds ``RGANeck(channels, spatial_size=grid)`` and reports its parameters, its FLOPs on
the d8 map of a training crop and of a whole image (mmengine's counter: one multiply-add =
one FLOP; the RoIAlign pooling onto the grid, two matrix products, counted with them),
and the peak bytes of tensors created by one eval-mode
forward on the whole-image map under ``torch.no_grad`` (``TensorMemoryTracker``), for each
relation path. It also prints the parameter count of the neck built at other grid sizes.

Every option is checked before the first measurement: sizes below 1, an unknown relation
path, a grid the neck cannot take, and a ``--model-config`` that is not an mmseg segmentor
with an ``RGANeck`` neck each stop the tool with one sentence.
"""
import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.registry import DefaultScope

from rga_mm.deployment.arguments import positive_int_arg
from rga_mm.engine.launch.distributed import sync_bn_as_bn
from rga_mm.errors import ConfigError, first_line
from rga_mm.models.attention.relation import RELATION_PATHS
from rga_mm.models.attention.rga import MAX_WEIGHTS, largest_weight_count
from rga_mm.models.necks import RGANeck
from rga_mm.models.necks.rga_neck import RGA_REDUCTION
from rga_mm.testing import TensorMemoryTracker

EXAMPLE_CONFIG = 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'
GRID = (33, 33)  # --grid, the Cityscapes config's spatial_size
OTHER_GRIDS = (97, 49, 33, 25)  # --other-grids


class Attend(torch.nn.Module):
    """The neck on a bare map (the counter needs a tensor in, a tensor out)."""

    def __init__(self, neck: RGANeck) -> None:
        super().__init__()
        self.neck = neck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck((x,))[0]


def count_parameters(module: torch.nn.Module) -> int:
    """The number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def relation_path_arg(text: str) -> str:
    """An ``argparse`` type: one of RGA's relation paths, refused in argparse's one-line
    error naming them otherwise."""
    if text not in RELATION_PATHS:
        names = ', '.join(sorted(RELATION_PATHS))
        raise argparse.ArgumentTypeError(f'must be a relation path ({names}), got {text!r}')
    return text


def build_parser() -> argparse.ArgumentParser:
    """The tool's options; sizes are positive integers and paths RGA's relation paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--channels', type=positive_int_arg, default=2048,
                        help="C, the channels of the attended map (the neck's in_channels; "
                             'default: %(default)s, ResNet-101\'s last stage)')
    parser.add_argument('--grid', type=int, nargs=2, default=GRID, metavar=('H', 'W'),
                        help="the neck's spatial_size, the reference grid the map is pooled "
                             f"onto (default: {' '.join(map(str, GRID))})")
    parser.add_argument('--crop', type=positive_int_arg, nargs=2, default=(97, 97),
                        metavar=('H', 'W'), help='the d8 map of a training crop')
    parser.add_argument('--whole', type=positive_int_arg, nargs=2, default=(128, 256),
                        metavar=('H', 'W'), help='the d8 map of a whole image')
    parser.add_argument('--paths', type=relation_path_arg, nargs='+',
                        default=['factorized', 'dense'],
                        help=f"relation paths to measure ({', '.join(sorted(RELATION_PATHS))})")
    parser.add_argument('--other-grids', type=int, nargs='*', default=list(OTHER_GRIDS),
                        metavar='SIDE',
                        help='square grids (SIDE×SIDE) at which to count the parameters of '
                             'the neck of --channels; none to skip (default: '
                             f"{' '.join(map(str, OTHER_GRIDS))})")
    parser.add_argument('--model-config', help='also run one whole-image forward of this '
                        'segmentation config, an mmseg segmentor with an RGANeck neck (slow: '
                        "ResNet-101 at 1024x2048) with the config's own neck (its in_channels "
                        'and spatial_size) instead of --channels and --grid, which size the '
                        'bare neck only; --paths still sets its relation path')
    parser.add_argument('--image', type=positive_int_arg, nargs=2, default=(1024, 2048),
                        metavar=('H', 'W'), help='the image of --model-config')
    return parser


def weight_count(channels: int, grid: tuple[int, int]) -> int:
    """How many weights RGA decides the size of the neck by (``largest_weight_count``):
    the neck's RGA-SC on ``channels`` channels at ``grid``."""
    return largest_weight_count(channels, grid, 'SC', RGA_REDUCTION)


def most_channels(grid: tuple[int, int]) -> int:
    """The largest channel count whose neck at ``grid`` keeps within RGA's
    :data:`MAX_WEIGHTS` (0 when none does; the count grows with the channels)."""
    fits, too_many = 0, 1
    while weight_count(too_many, grid) <= MAX_WEIGHTS:
        fits, too_many = too_many, 2 * too_many
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        fits, too_many = (middle, too_many) if weight_count(middle, grid) <= MAX_WEIGHTS else (
            fits, middle)
    return fits


def check_channels(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's error naming ``--channels`` and the most that fit when the neck of
    ``--channels`` exceeds RGA's weight limit at every grid, even the smallest it takes
    (h·w = its reduction): the channels, not ``--grid``, are then too many."""
    smallest = (1, RGA_REDUCTION)
    if weight_count(args.channels, smallest) <= MAX_WEIGHTS:
        return
    fitting = [most_channels(grid) for grid in asked_grids(args)
               if min(grid) >= 1 and grid[0] * grid[1] >= RGA_REDUCTION]
    most = min([count for count in fitting if count >= 1] or [most_channels(smallest)])
    parser.error(f'argument --channels: an RGANeck of {args.channels} channels would hold '
                 f'about {weight_count(args.channels, smallest) / 1e9:.2f} G weights even at '
                 f'the smallest grid, more than RGA takes ({MAX_WEIGHTS / 1e9:.2f} G): give '
                 f'--channels {most} or fewer')


def asked_grids(args: argparse.Namespace) -> list[tuple[int, int]]:
    """``--grid`` and the square ``--other-grids``, as (h, w) pairs."""
    return [tuple(args.grid), *((side, side) for side in args.other_grids)]


def check_grids(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, in RGANeck's own sentence, a ``--grid`` or ``--other-grids`` size the neck
    cannot be built for."""
    for grid in asked_grids(args):
        try:
            RGANeck(args.channels, grid, relation_path='factorized')
        except ConfigError as error:
            parser.error(f'grid {grid[0]}x{grid[1]}: {error}')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The checked options: every refusal comes before the first measurement."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model_config and not os.path.isfile(args.model_config):  # before minutes of work
        parser.error(f'--model-config {args.model_config} is no config file')
    check_channels(parser, args)
    check_grids(parser, args)
    args.model_cfg = segmentation_config(args.model_config) if args.model_config else None
    if args.model_cfg is not None:
        check_builds(args.model_cfg, args.model_config, args.paths[0])
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Print the neck's parameters, FLOPs and forward memory (and the whole model's with
    ``--model-config``)."""
    args = parse_args(argv)
    with torch.no_grad():
        measure_neck(args)
        if args.model_cfg is not None:
            measure_whole_model(args)


def measure_neck(args: argparse.Namespace) -> None:
    """The neck's parameters at each grid and, per relation path, its FLOPs on the crop and
    whole maps and the peak memory of one forward on the whole map."""
    for side in args.other_grids:
        neck = RGANeck(args.channels, (side, side))
        print(f'grid {side}x{side}: {count_parameters(neck):,} parameters')

    for path in args.paths:
        neck = RGANeck(args.channels, tuple(args.grid), relation_path=path).eval()
        print(f'\n[{path}] grid {args.grid[0]}x{args.grid[1]}, C={args.channels}: '
              f'{count_parameters(neck):,} parameters')
        try:
            measure_maps(neck, args)
        except (MemoryError, RuntimeError) as error:  # the allocator's "can't allocate"
            raise SystemExit(f'the {path} neck could not run on the maps asked for '
                             f'({first_line(error, named=True)}); pass a smaller --whole '
                             f'or --crop') from None


def measure_maps(neck: RGANeck, args: argparse.Namespace) -> None:
    """``neck``'s FLOPs on the crop and whole maps of ``args`` and the peak memory of one
    forward on the whole map."""
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


def registered_class(node: Any) -> type | None:
    """The class a config node (a dict with ``type``) builds in mmseg's model registry, or
    None when it names none."""
    from mmseg.registry import MODELS

    if not isinstance(node, dict) or 'type' not in node:
        return None
    if isinstance(node['type'], type):
        return node['type']
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.get(node['type'])


def segmentation_config(path: str) -> Config:
    """The config at ``path``, or one sentence saying why it is not an mmseg segmentor with
    an RGANeck neck (the model this tool builds and re-configures)."""
    from rga_mm.engine.launch import load_config, require_segmentation
    try:
        require_segmentation('--model-config (a whole segmentation model)')
        cfg = load_config(path)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    from mmseg.models.segmentors import BaseSegmentor

    fix = f'give a segmentation config with an RGANeck neck, such as {EXAMPLE_CONFIG}'
    model = cfg.get('model')
    segmentor = registered_class(model)
    if segmentor is None or not issubclass(segmentor, BaseSegmentor):
        what = (f"builds {model['type']!r}" if isinstance(model, dict) and 'type' in model
                else 'defines no model type')
        raise SystemExit(f'--model-config {path} {what}, which is not an mmseg segmentor: '
                         f'{fix}')
    neck = registered_class(model.get('neck'))
    if neck is None or not issubclass(neck, RGANeck):
        what = (f"is {model.neck['type']!r}" if isinstance(model.get('neck'), dict)
                and 'type' in model.neck else 'is missing')
        raise SystemExit(f'--model-config {path} has no RGANeck neck (its model.neck {what}): '
                         f'{fix}')
    return cfg


def build_segmentor(cfg: Config, path: str) -> torch.nn.Module:
    """The config's segmentor in eval mode with random weights, plain BN and the neck's
    ``relation_path`` set to ``path``."""
    from mmseg.registry import MODELS

    model_cfg = cfg.model.to_dict()  # a copy
    sync_bn_as_bn(model_cfg)  # one process: SyncBN would need a process group and CUDA
    if 'pretrained' in model_cfg:
        model_cfg['pretrained'] = None
    model_cfg['neck']['relation_path'] = path
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(model_cfg).eval()


def check_builds(cfg: Config, config_path: str, path: str) -> None:
    """Build the segmentor once, stopping with one sentence when its config cannot be
    built (before any measurement)."""
    try:
        build_segmentor(cfg, path)
    except (TypeError, KeyError, ValueError) as error:
        raise SystemExit(f'--model-config {config_path} cannot be built '
                         f'({first_line(error, named=True)}): fix the model section of the '
                         f'config') from None


def measure_whole_model(args: argparse.Namespace) -> None:
    """One whole-image forward of a segmentation config (plain BN, random weights)."""
    height, width = args.image
    for path in args.paths:
        model = build_segmentor(args.model_cfg, path)
        image = torch.randn(1, 3, height, width)
        start = time.perf_counter()
        try:
            with TensorMemoryTracker() as tracker:
                logits = model(image, mode='tensor')
        except (ConfigError, RuntimeError) as error:
            raise SystemExit(f'--image {height} {width}: the model cannot run on a {height}×'
                             f'{width} image ({first_line(error, named=True)}); pass an '
                             f'--image size it can take') from None
        seconds = time.perf_counter() - start
        name = args.model_config.split('/')[-1]
        print(f'\n[{path}] whole model {name} on 1x3x{height}x{width}: logits '
              f'{tuple(logits.shape)}, peak {tracker.peak_bytes / 2**20:.0f} '
              f'MiB of new tensors, largest {tracker.largest_bytes / 2**20:.0f} MiB, '
              f'{seconds:.1f} s')
        del model, logits


if __name__ == '__main__':
    main()
