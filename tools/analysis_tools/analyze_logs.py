"""Plot training and validation curves of one or more runs from mmengine's scalar logs.

Each LOG is a ``scalars.json``, a run folder (``<work_dir>/<timestamp>``, whose
``vis_data/scalars.json`` is read) or a work dir. mmengine writes each launch of a work dir, a
``--resume`` too, to a ``<timestamp>/vis_data/scalars.json`` of its own. Of a work dir's runs,
the newest is plotted together with the earlier runs it resumes, as
:func:`rga_mm.visualization.log_curves.load_scalar_logs` loads a work dir's runs: walking back
from the newest, an earlier run is joined only if the later one resumes it (the rule of
:func:`~rga_mm.visualization.log_curves.resume_break`), and the first run that is not resumed
ends the chain. The joined runs make one curve per key, a later run's point replacing an
earlier one's at the same step (a resumed run logs the steps after its checkpoint again); a
line on stderr says how many runs were joined, and another names the runs left out and how to
plot them; runs that logged no line (killed before or while writing their first) are left out
first, each named on stderr. One subplot per key, one curve per LOG (a LOG given twice is
refused); training keys are plotted against the
iteration, validation metrics against the epoch (epoch-based runs) or the iteration
(iteration-based runs); a key of both (``time``, ``data_time``) gets a subplot for each,
titled ``time (training)`` and ``time (validation)``. Without ``--keys``: ``loss``, ``lr`` and
every validation metric.
Writes the image in the format its suffix names (any matplotlib writes: ``.png``, ``.pdf``,
``.svg``, ``.jpg``, ...) and prints its path.

A log line that is not JSON stops the tool, naming its line and column in the file, except
a last line without its newline: mmengine ends every line it writes with one, so that line
was cut short by a run stopped mid-write (killed, out of memory, out of time). It is skipped
with a notice on stderr and the complete lines before it are plotted. mmengine's text log
(``<timestamp>/<timestamp>.log``) is refused with the path of its run's scalar log, and a
JSON document over several lines (a metrics file, such as ``tools/test.py --out`` writes) as
one.

Usage::

    python tools/analysis_tools/analyze_logs.py LOG [LOG ...] --out curves.png \
        [--keys loss lr reid/mAP] [--legend rga-sc baseline] [--title T] [--dpi 100]
"""
import argparse
import os.path as osp
import sys
from collections.abc import Sequence

from matplotlib.backend_bases import FigureCanvasBase

from rga_mm.apis.output_files import replaced_when_written, write_failure
from rga_mm.deployment.arguments import int_between
from rga_mm.engine.hooks.atomic_checkpoint_hook import PARTIAL_SUFFIX
from rga_mm.engine.launch import check_not_folder, check_output_file
from rga_mm.visualization.log_curves import (
    DEFAULT_DPI,
    SCALAR_LOG_NAME,
    ScalarLog,
    available_keys,
    default_keys,
    find_scalar_logs,
    load_resume_chain,
    logged_runs,
    plot_curves,
    run_id,
)

# print quality: a subplot of 5 × 3.5 inches at this dpi has 6 megapixels
MAX_DPI = 600
# FreeType draws no text at a handful of dots per inch
MIN_DPI = 10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('logs', nargs='+', metavar='LOG',
                        help='a scalars.json, a run folder <work_dir>/<timestamp>, or a work dir '
                        'whose newest run is joined with the runs it resumes')
    parser.add_argument('--out', required=True,
                        help='the image to write, in the format its suffix names (.png, .pdf, '
                        '.svg, ...)')
    parser.add_argument('--keys', nargs='+',
                        help='keys to plot (default: loss, lr and every validation metric)')
    parser.add_argument('--legend', nargs='+',
                        help='a name per LOG (default: <work dir>/<timestamp> of a run, the '
                        'work dir alone for joined runs; for a log outside <work dir>/'
                        '<timestamp>/vis_data, its file name without the suffix, or its '
                        "folder's name for a scalars.json)")
    parser.add_argument('--title', help='title of the figure')
    parser.add_argument('--dpi', type=int_between(MIN_DPI, MAX_DPI, reason='a larger figure '
                                                  'takes gigabytes to draw'),
                        default=DEFAULT_DPI, help=f'dots per inch (default: {DEFAULT_DPI}, '
                        f'from {MIN_DPI} to {MAX_DPI})')
    return parser.parse_args(argv)


def check_out(path: str) -> str:
    """The format matplotlib infers from ``--out``'s suffix (lower-cased, as it does); a
    ``SystemExit`` for a folder, a name without a suffix, a suffix matplotlib cannot write,
    and what :func:`check_output_file` refuses (a read-only folder, a file where a folder
    should be); a missing folder is created once the name is accepted."""
    check_not_folder(path, example='curves.png')
    suffix = osp.splitext(path)[1][1:].lower()
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix not in formats:
        problem = (f'matplotlib writes no .{suffix} files' if suffix else
                   'the name has no suffix to give the image format')
        raise SystemExit(f'--out {path}: {problem}; end it in one of '
                         f'{", ".join("." + name for name in formats)}')
    check_output_file(path, example='curves.png')
    return suffix


def in_run_layout(scalar_log: str) -> bool:
    """Whether ``scalar_log`` is mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    return (osp.basename(scalar_log) == SCALAR_LOG_NAME
            and osp.basename(osp.dirname(osp.abspath(scalar_log))) == 'vis_data')


def run_name(scalar_log: str) -> str:
    """``<work dir name>/<timestamp>`` for ``<work_dir>/<timestamp>/vis_data/scalars.json``;
    elsewhere the name of the file's folder for a ``scalars.json``, the file's stem for
    another name (``logs/mmpre.json`` → ``mmpre``)."""
    if in_run_layout(scalar_log):
        work_dir = osp.dirname(osp.dirname(osp.dirname(osp.abspath(scalar_log))))
        return osp.join(osp.basename(work_dir), run_id(scalar_log))
    if osp.basename(scalar_log) == SCALAR_LOG_NAME:
        return osp.basename(osp.dirname(osp.abspath(scalar_log))) or SCALAR_LOG_NAME
    return osp.splitext(osp.basename(scalar_log))[0]


def runs_name(scalar_logs: Sequence[str]) -> str:
    """:func:`run_name` of a single run; the work dir's name for several runs of it."""
    if len(scalar_logs) == 1:
        return run_name(scalar_logs[0])
    return osp.dirname(run_name(scalar_logs[-1]))


def check_logs_differ(runs: Sequence[Sequence[str]], paths: Sequence[str]) -> None:
    """A ``ValueError`` when two LOG ``paths`` plot the same ``runs`` (the same scalar logs,
    however named), which would draw one curve over the other."""
    seen: dict[tuple, str] = {}
    for path, scalar_logs in zip(paths, runs):
        key = tuple(osp.realpath(log) for log in scalar_logs)
        if key not in seen:
            seen[key] = path
            continue
        what = (scalar_logs[0] if len(scalar_logs) == 1 else
                f'{len(scalar_logs)} runs joined, the newest {scalar_logs[-1]}')
        given = (f'LOG {path} is given twice' if seen[key] == path else
                 f'LOGs {seen[key]} and {path} are the same log')
        raise ValueError(f'{given} ({what}); give each log once')


def legend_names(runs: Sequence[Sequence[str]], paths: Sequence[str],
                 legend: Sequence[str] | None) -> list[str]:
    """``legend`` checked against the LOG ``paths``, or a name made from each one's runs
    (:func:`runs_name`; the paths as given where two names would be the same); a
    ``ValueError`` for two LOGs of the same runs (:func:`check_logs_differ`)."""
    check_logs_differ(runs, paths)
    if legend is None:
        names = [runs_name(scalar_logs) for scalar_logs in runs]
        return names if len(set(names)) == len(names) else list(paths)
    if len(legend) != len(paths):
        raise ValueError(f'--legend gives {len(legend)} names for {len(paths)} logs')
    if len(set(legend)) != len(legend):
        raise ValueError(f'--legend names must differ, got {list(legend)}')
    return list(legend)


def text_log_message(path: str) -> str:
    """The error for mmengine's text log ``<timestamp>/<timestamp>.log`` given as a LOG: the
    run's scalar log to give instead, or that the run has none."""
    scalar_log = osp.join(osp.dirname(path), 'vis_data', SCALAR_LOG_NAME)
    if osp.isfile(scalar_log):
        return (f"{path} is mmengine's text log, not a scalar log; give the run's scalar log "
                f'{scalar_log} instead')
    return (f"{path} is mmengine's text log, not a scalar log, and its run has no "
            f'{scalar_log}; give a {SCALAR_LOG_NAME} or a work dir that has one')


def scalar_log_paths(path: str) -> list[str]:
    """The scalar logs a LOG argument names, oldest first: a run folder's (or its
    ``vis_data`` folder's) ``scalars.json``, else what :func:`find_scalar_logs` finds; a
    ``ValueError`` for mmengine's text log (a ``.log`` file)."""
    if osp.isdir(path):
        for scalar_log in (osp.join(path, 'vis_data', SCALAR_LOG_NAME),
                           osp.join(path, SCALAR_LOG_NAME)):
            if osp.isfile(scalar_log):
                return [scalar_log]
    elif osp.isfile(path) and path.endswith('.log'):
        raise ValueError(text_log_message(path))
    return find_scalar_logs(path)


def report_join(path: str, scalar_logs: Sequence[str]) -> None:
    """One line on stderr naming how many runs of the work dir ``path`` were joined."""
    if len(scalar_logs) > 1:
        first, last = (run_id(log) for log in (scalar_logs[0], scalar_logs[-1]))
        print(f'{path}: joined {len(scalar_logs)} runs ({first} to {last}) into one curve per '
              'key, a later run winning where a step repeats', file=sys.stderr)


def report_left_out(path: str, left_out: Sequence[str], resumer: str, reason: str) -> None:
    """One line on stderr naming the runs of the work dir ``path`` left out, because the run
    ``resumer`` does not resume the last of them (``reason``), and how to plot them."""
    ids = ', '.join(run_id(log) for log in left_out)
    runs, them, their, logs = (('runs', 'them', 'their', 'further LOGs') if len(left_out) > 1
                               else ('run', 'it', 'its', 'another LOG'))
    print(f'{path}: left out the earlier {runs} {ids}, as {run_id(resumer)} does not resume '
          f'{run_id(left_out[-1])} ({reason}); to plot {them}, give {their} {SCALAR_LOG_NAME} '
          f'as {logs}: {" ".join(left_out)}', file=sys.stderr)


def load_logs(paths: Sequence[str], legend: Sequence[str] | None) -> dict[str, ScalarLog]:
    """{legend name: loaded log} for each LOG argument: of a work dir's runs that logged a
    line (:func:`logged_runs`), the newest joined with the runs it resumes
    (:func:`load_resume_chain`)."""
    found = [logged_runs(scalar_log_paths(path)) for path in paths]
    chains = [load_resume_chain(scalar_logs) for scalar_logs in found]
    names = legend_names([logs[start:] for logs, (start, _, _) in zip(found, chains)], paths,
                         legend)
    for path, scalar_logs, (start, _, reason) in zip(paths, found, chains):
        if reason is not None:
            report_left_out(path, scalar_logs[:start], scalar_logs[start], reason)
        report_join(path, scalar_logs[start:])
    return {name: log for name, (_, log, _) in zip(names, chains)}


def report_missing_keys(logs: dict[str, ScalarLog], keys: Sequence[str]) -> None:
    """One line on stderr per key that some of several logs lack: its subplot draws the
    others only, which would otherwise look like the whole comparison."""
    if len(logs) < 2:
        return
    for key in keys:
        lacking = [name for name, log in logs.items()
                   if key not in available_keys(log, 'train') + available_keys(log, 'val')]
        if lacking:
            print(f'{key}: not in {", ".join(lacking)}, so its subplot draws '
                  f'{len(logs) - len(lacking)} of the {len(logs)} logs', file=sys.stderr)


def write_curves(logs: dict, keys: list[str], args: argparse.Namespace) -> None:
    """Draw the curves into ``--out`` whole or not at all: drawn into ``<name>.partial<suffix>``
    beside it (the suffix names the format) and renamed into place, so that Ctrl-C or a
    failed write (a full disk) leaves an earlier ``--out`` as it was; a failed write stops
    the tool in one sentence."""
    root, suffix = osp.splitext(args.out)
    try:
        with replaced_when_written(args.out, partial=f'{root}{PARTIAL_SUFFIX}{suffix}') as staged:
            plot_curves(logs, keys, staged, title=args.title, dpi=args.dpi)
    except OSError as error:
        raise SystemExit(write_failure(args.out, error, 'give another --out')) from None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    image_format = check_out(args.out)  # before reading any log
    try:
        logs = load_logs(args.logs, args.legend)
        keys = list(dict.fromkeys(args.keys)) if args.keys else default_keys(logs)  # once
        write_curves(logs, keys, args)
        report_missing_keys(logs, keys)
    except (FileNotFoundError, KeyError, ValueError) as error:
        # a KeyError's str() quotes its message
        raise SystemExit(error.args[0] if isinstance(error, KeyError) else str(error))
    except RuntimeError as error:  # a writer that cannot run here: pgf without TeX
        raise SystemExit(f'--out {args.out}: matplotlib cannot write .{image_format} files '
                         f'here ({error}); choose another suffix, e.g. .png') from None
    print(args.out)


if __name__ == '__main__':
    main()
