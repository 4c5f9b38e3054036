"""Plot training and validation curves of one or more runs from mmengine's scalar logs.

Each LOG is a ``scalars.json`` or a work dir (its newest run's
``<timestamp>/vis_data/scalars.json`` is used). One subplot per key, one curve per LOG;
training keys are plotted against the iteration, validation metrics against the epoch
(epoch-based runs) or the iteration (iteration-based runs). Without ``--keys``: ``loss``,
``lr`` and every validation metric. Writes the image in the format its suffix names (any
matplotlib writes: ``.png``, ``.pdf``, ``.svg``, ``.jpg``, ...) and prints its path.

A log line that is not JSON stops the tool, naming its line and column in the file, except
a last line without its newline: mmengine ends every line it writes with one, so that line
was cut short by a run stopped mid-write (killed, out of memory, out of time). It is skipped
with a notice on stderr and the complete lines before it are plotted.

Usage::

    python tools/analysis_tools/analyze_logs.py LOG [LOG ...] --out curves.png \
        [--keys loss lr reid/mAP] [--legend rga-sc baseline] [--title T] [--dpi 100]
"""
import argparse
import os.path as osp
from collections.abc import Sequence

from matplotlib.backend_bases import FigureCanvasBase

from rga_mm.engine.launch import check_output_file
from rga_mm.visualization.log_curves import (
    DEFAULT_DPI,
    ScalarLog,
    default_keys,
    find_scalar_log,
    load_scalar_log,
    plot_curves,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('logs', nargs='+', metavar='LOG',
                        help='a scalars.json, or a work dir to take the newest run from')
    parser.add_argument('--out', required=True,
                        help='the image to write, in the format its suffix names (.png, .pdf, '
                        '.svg, ...)')
    parser.add_argument('--keys', nargs='+',
                        help='keys to plot (default: loss, lr and every validation metric)')
    parser.add_argument('--legend', nargs='+',
                        help='a name per LOG (default: <work dir>/<timestamp> of each log)')
    parser.add_argument('--title', help='title of the figure')
    parser.add_argument('--dpi', type=int, default=DEFAULT_DPI)
    return parser.parse_args(argv)


def check_out(path: str) -> str:
    """The format matplotlib infers from ``--out``'s suffix (lower-cased, as it does); a
    ``SystemExit`` for a folder, a name without a suffix, a suffix matplotlib cannot write,
    and what :func:`check_output_file` refuses (a read-only folder, a file where a folder
    should be); a missing folder is created."""
    check_output_file(path, example='curves.png')
    suffix = osp.splitext(path)[1][1:].lower()
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix not in formats:
        problem = (f'matplotlib writes no .{suffix} files' if suffix else
                   'the name has no suffix to give the image format')
        raise SystemExit(f'--out {path}: {problem}; end it in one of '
                         f'{", ".join("." + name for name in formats)}')
    return suffix


def run_name(scalar_log: str) -> str:
    """``<work dir name>/<timestamp>`` for ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    run_dir = osp.dirname(osp.dirname(osp.abspath(scalar_log)))
    return osp.join(osp.basename(osp.dirname(run_dir)), osp.basename(run_dir))


def legend_names(scalar_logs: Sequence[str], legend: Sequence[str] | None) -> list[str]:
    """``legend`` checked against the logs, or a name made from each log's path."""
    if legend is None:
        names = [run_name(path) for path in scalar_logs]
        return names if len(set(names)) == len(names) else list(scalar_logs)
    if len(legend) != len(scalar_logs):
        raise ValueError(f'--legend gives {len(legend)} names for {len(scalar_logs)} logs')
    if len(set(legend)) != len(legend):
        raise ValueError(f'--legend names must differ, got {list(legend)}')
    return list(legend)


def load_logs(paths: Sequence[str], legend: Sequence[str] | None) -> dict[str, ScalarLog]:
    """{legend name: loaded log} for each LOG argument."""
    scalar_logs = [find_scalar_log(path) for path in paths]
    names = legend_names(scalar_logs, legend)
    return {name: load_scalar_log(path) for name, path in zip(names, scalar_logs)}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    image_format = check_out(args.out)  # before reading any log
    try:
        logs = load_logs(args.logs, args.legend)
        keys = args.keys or default_keys(logs)
        plot_curves(logs, keys, args.out, title=args.title, dpi=args.dpi)
    except (FileNotFoundError, KeyError, ValueError) as error:
        # a KeyError's str() quotes its message
        raise SystemExit(error.args[0] if isinstance(error, KeyError) else str(error))
    except RuntimeError as error:  # a writer that cannot run here: pgf without TeX
        raise SystemExit(f'--out {args.out}: matplotlib cannot write .{image_format} files '
                         f'here ({error}); choose another suffix, e.g. .png') from None
    print(args.out)


if __name__ == '__main__':
    main()
