"""Command-line options that the tools share: tools/deployment/pytorch2onnx.py and
tools/analysis_tools/get_flops.py both take the input size as ``--shape H W``,
tools/visualization/vis_attention.py checks its sizes (``--input-size H W``,
``--panel-height``) with the same types, and the benchmarks their counts and budgets."""
import argparse
from collections.abc import Callable


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of 1 or more, refused in argparse's one-line error
    otherwise."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def positive_float(text: str) -> float:
    """An ``argparse`` type: a number above 0 (a size, a memory budget, a scale), refused in
    argparse's one-line error otherwise."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be a number above 0, got {text}')
    return value


def int_at_least(minimum: int, unit: str = '') -> Callable[[str], int]:
    """An ``argparse`` type: an integer of ``minimum`` or more, refused in argparse's
    one-line error naming the minimum (and ``unit``, e.g. ``'pixels'``) otherwise."""
    suffix = f' {unit}' if unit else ''

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}{suffix}, got {value}')
        return value

    parse.__name__ = 'int'  # argparse's "invalid int value: 'x'" for a non-integer
    return parse


def add_shape_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--shape H W``: the input height and width, two positive integers."""
    parser.add_argument('--shape', type=positive_int, nargs=2, metavar=('H', 'W'), help=help)
