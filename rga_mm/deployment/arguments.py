"""Command-line options that the tools share: tools/deployment/pytorch2onnx.py and
tools/analysis_tools/get_flops.py both take the input size as ``--shape H W``, else from the
config (:func:`input_shape`),
tools/visualization/vis_attention.py checks its sizes (``--input-size H W``,
``--panel-height``) with the same types, and the benchmarks their counts and budgets."""
import argparse
import math
from collections.abc import Callable, Sequence

from mmengine.config import Config

from rga_mm.checks import is_positive_int

# where a config gives its input size: re-ID configs set input_size, segmentation configs
# their training crop_size; the first one present is used
CONFIG_SIZE_KEYS = ('input_size', 'crop_size')


def positive_float(text: str) -> float:
    """An ``argparse`` type: a finite number above 0 (a size, a memory budget, a scale),
    refused in argparse's one-line error otherwise (``inf`` would overflow where the value
    becomes a count of bytes or images)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be a number above 0, got {text}')
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'must be a finite number above 0, got {text}')
    return value


def int_at_least(minimum: int, unit: str = '') -> Callable[[str], int]:
    """An ``argparse`` type: an integer of ``minimum`` or more, refused in argparse's
    one-line error naming the minimum (and ``unit``, e.g. ``'pixels'``) otherwise, or
    saying "a positive integer" for a minimum of 1 without a unit."""
    suffix = f' {unit}' if unit else ''
    requirement = ('a positive integer' if minimum == 1 and not unit
                   else f'at least {minimum}{suffix}')

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be {requirement}, got {value}')
        return value

    parse.__name__ = 'int'  # argparse's "invalid int value: 'x'" for a non-integer
    return parse


def int_between(minimum: int, maximum: int, unit: str = '',
                reason: str = '') -> Callable[[str], int]:
    """An ``argparse`` type: an integer from ``minimum`` to ``maximum``, refused in
    argparse's one-line error naming the bound it breaks (:func:`int_at_least` below it;
    above it ``reason``, why the bound holds, in brackets)."""
    at_least = int_at_least(minimum, unit)
    suffix = f' {unit}' if unit else ''
    why = f' ({reason})' if reason else ''

    def parse(text: str) -> int:
        value = at_least(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f'must be at most {maximum}{suffix}{why}, got '
                                             f'{value}')
        return value

    parse.__name__ = 'int'  # argparse's "invalid int value: 'x'" for a non-integer
    return parse


positive_int_arg = int_at_least(1)
"""An ``argparse`` type: an integer of 1 or more (a count, a size), refused in argparse's
one-line error otherwise."""


def add_shape_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--shape H W``: the input height and width, two positive integers."""
    parser.add_argument('--shape', type=positive_int_arg, nargs=2, metavar=('H', 'W'), help=help)


def config_size_key(cfg: Config) -> str:
    """The key of ``cfg`` that gives its input size (``input_size``, else ``crop_size``);
    stops the tool with one sentence when it has neither."""
    for key in CONFIG_SIZE_KEYS:
        if key in cfg:
            return key
    raise SystemExit('the config defines neither input_size nor crop_size: pass --shape H W')


def input_shape(cfg: Config, shape: Sequence[int] | None) -> tuple[int, int]:
    """(H, W) from ``--shape`` (``shape``), else from the config's ``input_size`` or
    ``crop_size`` (:func:`config_size_key`), which must be two positive integers."""
    if shape:
        return tuple(shape)
    key = config_size_key(cfg)
    size = cfg[key]
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(is_positive_int(side) for side in size)):
        raise SystemExit(f'the config\'s {key} is {size!r}, not an (H, W) pair of positive '
                         f'integers: pass --shape H W')
    return tuple(int(side) for side in size)


def input_size_note(cfg: Config, shape_option: Sequence[int] | None) -> str | None:
    """A note on the image size an exported file takes, given ``--shape`` (``shape_option``,
    None when not given), or None when the size is the one the config tests at.

    * Re-ID and CIFAR configs test at their ``input_size``. A model with fixed-size RGA
      modules takes some nearby sizes too (those its strides round to the same maps), so
      nothing refuses them; images must then be resized to ``--shape``, not to the training
      size.
    * Segmentation configs train on ``crop_size`` crops but test whole images at their own
      size: without ``--shape`` the file takes crops, and whole images resized to one would
      be squashed.
    """
    if 'input_size' in cfg:
        if shape_option is None or tuple(shape_option) == tuple(cfg.input_size):
            return None
        height, width = shape_option
        return (f"Note: the config trains and tests at input_size {cfg.input_size[0]}×"
                f"{cfg.input_size[1]}; this file takes {height}×{width} images (its "
                f"input_size metadata), so resize images to {height}×{width}")
    if shape_option is None and 'crop_size' in cfg:
        height, width = cfg.crop_size
        return (f"Note: this file takes {height}×{width} images, the config's training "
                f"crop_size, but the config tests whole images at their own size; export "
                f"at the size of your images with --shape H W (e.g. --shape 1024 2048 for "
                f"Cityscapes) rather than resizing them to {height}×{width}")
    return None
