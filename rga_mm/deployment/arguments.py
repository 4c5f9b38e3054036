"""Command-line options that the model tools share: tools/deployment/pytorch2onnx.py and
tools/analysis_tools/get_flops.py both take the input size as ``--shape H W``."""
import argparse


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of 1 or more, refused in argparse's one-line error
    otherwise."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def add_shape_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--shape H W``: the input height and width, two positive integers."""
    parser.add_argument('--shape', type=positive_int, nargs=2, metavar=('H', 'W'), help=help)
