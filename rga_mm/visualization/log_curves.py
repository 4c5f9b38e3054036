"""Training and validation curves from mmengine's JSON scalar logs.

mmengine's ``LoggerHook`` writes one JSON dict per logged step to
``<work_dir>/<timestamp>/vis_data/scalars.json``:

- training lines carry ``lr``, ``loss`` (and its parts), ``time``, ``data_time``, ``iter``,
  ``step`` (the global iteration) and, in epoch-based runs, ``epoch``;
- validation lines carry the metrics (``reid/mAP``, ``reid/rank1``, ``accuracy/top1``,
  ``mIoU``, ...), ``time``, ``data_time`` and ``step``: the epoch in epoch-based runs (the
  default ``log_metric_by_epoch=True``), the iteration in iteration-based runs.

:func:`load_scalar_log` splits the lines as :func:`mmpretrain.utils.load_json_log` does (a
line with ``lr`` is a training line, any other a validation line; that assumes every
training line logs ``lr``, as mmengine's ``LogProcessor`` does for a run with one optimizer)
but reads them itself: mmpretrain's reader names a broken line by its position inside the
line, not in the file, and refuses a whole log whose last line a killed run cut short. Here
a broken line is named by its line and column, and a last line without its newline (mmengine
ends every line it writes with one) is skipped with a notice on stderr.
:func:`find_scalar_logs` lists every run of a work dir (each launch, a ``--resume`` too, writes
a new ``<timestamp>`` folder), oldest first. Only runs that resume one another are joined:
:func:`load_resume_chain` walks back from the newest run, joining an earlier run only if the
later one resumes it (:func:`resume_break` gives the rule: the later run's first training step
comes after the earlier one's first step and at most one logging interval after its last), and
the first run that is not resumed ends the chain; it returns which runs were left out and why.
:func:`load_scalar_logs` returns the joined log alone: the newest run and the runs it resumes,
a later run's line replacing an earlier one's at the same step (a resumed run logs the steps
after its checkpoint again). A run started afresh in the same work dir (from step 1 again)
is thus plotted alone, not mixed with the older runs; give their logs separately to plot them.
:func:`plot_curves` draws one subplot per key, one curve per log, with matplotlib's Agg
canvas (no display, no pyplot state), and writes an image in the format its file name's
suffix names (``.png``, ``.pdf``, ``.svg``, ...) of ``SUBPLOT_INCHES`` per subplot,
``MAX_COLUMNS`` subplots a row, at ``dpi`` dots per inch.

    # rga-sc: its newest run joined with the runs it resumes; baseline: its newest run alone
    logs = {'rga-sc': load_scalar_logs(find_scalar_logs('work_dirs/rga-sc')),
            'baseline': load_scalar_log(find_scalar_logs('work_dirs/baseline')[-1])}
    plot_curves(logs, default_keys(logs), 'curves.png', title='Market-1501')
"""
import glob
import json
import math
import os.path as osp
import sys
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ['find_scalar_logs', 'load_scalar_log', 'join_scalar_logs', 'resume_break',
           'load_resume_chain', 'load_scalar_logs', 'logged_runs', 'default_keys', 'draw_curves',
           'plot_curves']

ScalarLog = dict[str, list[dict]]  # {'train': [line, ...], 'val': [line, ...]}

SCALAR_LOG_NAME = 'scalars.json'
# bookkeeping and counts, not plotted by default; compared by the last part of a key
# ('reid/num_query' → 'num_query')
BOOKKEEPING_KEYS = ('time', 'data_time', 'step', 'epoch', 'iter', 'memory', 'num_query',
                    'num_query_skipped', 'num_gallery')
SUBPLOT_INCHES = (5.0, 3.5)  # (width, height) of one subplot
MAX_COLUMNS = 3
DEFAULT_DPI = 100
SPLIT_NAMES = {'train': 'training', 'val': 'validation'}  # in subplot titles


def find_scalar_logs(path: str) -> list[str]:
    """``[path]`` if it is a file, else every ``*/vis_data/scalars.json`` under it, oldest first.

    ``path`` may be a scalar log or a work dir; mmengine names each run's folder in the work
    dir by its start time (``YYYYMMDD_HHMMSS``), so sorting the paths puts the runs in the
    order they were launched (a ``--resume``d run gets a folder of its own).
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path} is neither a scalar log nor a work dir')
    logs = sorted(glob.glob(osp.join(path, '*', 'vis_data', SCALAR_LOG_NAME)))
    if not logs:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/{SCALAR_LOG_NAME} under the work dir {path}: '
            'mmengine writes it there during training (LoggerHook with the default '
            'LocalVisBackend)')
    return logs


def load_scalar_log(path: str) -> ScalarLog:
    """The training and validation lines of one scalar log.

    Returns ``{'train': [...], 'val': [...]}``, each a list of the log's dicts in file order
    (a line with ``lr`` is a training line); lines without a ``step`` (which mmengine always
    writes) are dropped, and so is a last line cut short (see the module docstring). Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` naming the line and column of
    a broken line, or for a file with no line with a ``step``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'no scalar log at {path}: mmengine writes it to '
            f'<work_dir>/<timestamp>/vis_data/{SCALAR_LOG_NAME} during training')
    lines = [line for line in _json_lines(path) if isinstance(line, dict) and 'step' in line]
    if not lines:
        raise ValueError(f'{path} has no usable line: mmengine writes one JSON dict with a '
                         '"step" key per logged iteration or validation')
    return {'train': [line for line in lines if 'lr' in line],
            'val': [line for line in lines if 'lr' not in line]}


def join_scalar_logs(logs: Sequence[ScalarLog]) -> ScalarLog:
    """One log from the logs of successive runs of a work dir, oldest first.

    Each split's lines are joined in step order; where a later run logs a step an earlier
    run logged too (a resumed run restarts from its checkpoint and logs the steps after it
    again), the later run's line replaces the earlier one's.
    """
    if not logs:
        raise ValueError('no log to join')
    return {split: _join_lines([log[split] for log in logs]) for split in ('train', 'val')}


def _join_lines(runs: Sequence[list[dict]]) -> list[dict]:
    """The lines of ``runs`` (oldest first) sorted by step, a later run's winning a step."""
    joined: list[dict] = []
    for lines in runs:
        steps = {line['step'] for line in lines}
        joined = [line for line in joined if line['step'] not in steps] + list(lines)
    return sorted(joined, key=lambda line: line['step'])


def run_id(scalar_log: str) -> str:
    """The ``<timestamp>`` of ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    return osp.basename(osp.dirname(osp.dirname(osp.abspath(scalar_log))))


def train_steps(log: ScalarLog) -> list[int]:
    """The steps (global iterations) of ``log``'s training lines, in order."""
    return sorted(line['step'] for line in log['train'])


def logging_interval(*logs: ScalarLog) -> float:
    """The largest step between consecutive training lines of ``logs``: at most the
    LoggerHook's ``interval`` (it also logs at each epoch's end); ``inf`` if no log has two
    training lines."""
    gaps = [b - a for log in logs for a, b in zip(train_steps(log), train_steps(log)[1:])]
    return max(gaps, default=math.inf)


def resume_break(earlier: tuple[str, ScalarLog], later: tuple[str, ScalarLog]) -> str | None:
    """None if the run ``later`` resumes the run ``earlier`` (each a ``(name, log)``), else
    why not, as a clause about ``later``.

    mmengine's LoggerHook writes a training line at fixed points: every ``interval``
    iterations and at each epoch's end, with the global iteration as its ``step``. A run
    started afresh logs from its first point again (step 1 with ``interval=1``). A run
    resumed from a checkpoint that ``earlier`` saved at iteration k goes on from k + 1, so its
    first step F is the first logging point after k, where k is at least ``earlier``'s
    start, and below ``earlier``'s next logging point after its last step L (which it never
    reached). So ``later`` resumes ``earlier`` when ``earlier``'s first step < F
    <= L + the logging interval (estimated by :func:`logging_interval`); F may be <= L, as a
    run stopped after its checkpoint logged steps the resumed one logs again. A run that
    starts at or before ``earlier``'s first step started again (or resumed an older
    checkpoint), and one that starts past L + the interval resumed another run's checkpoint.
    """
    (earlier_name, earlier_log), (_, later_log) = earlier, later
    earlier_steps, later_steps = train_steps(earlier_log), train_steps(later_log)
    if not later_steps:
        return 'it logs no training step'
    if not earlier_steps:
        return f'{earlier_name} logs no training step'
    first, (start, last) = later_steps[0], (earlier_steps[0], earlier_steps[-1])
    interval = logging_interval(earlier_log, later_log)
    if first <= start:
        return f"it starts at step {first}, not after {earlier_name}'s first step {start}"
    if first > last + interval:
        return (f'it starts at step {first}, more than the logging interval ({interval}) '
                f"after {earlier_name}'s last step {last}")
    return None


def load_resume_chain(paths: Sequence[str]) -> tuple[int, ScalarLog, str | None]:
    """The newest of the scalar logs at ``paths`` (runs of a work dir, oldest first) joined
    with the runs it resumes in a chain (:func:`resume_break`, read newest first, each run
    named by :func:`run_id`), as ``(index of the oldest run joined, joined log, why the run
    before it is left out or None)``; ``paths[:index]`` are the runs left out."""
    if not paths:
        raise ValueError('no log to join')
    start = len(paths) - 1
    loaded = [load_scalar_log(paths[start])]
    reason = None
    while start > 0 and reason is None:
        earlier = load_scalar_log(paths[start - 1])
        reason = resume_break((run_id(paths[start - 1]), earlier),
                              (run_id(paths[start]), loaded[0]))
        if reason is None:
            loaded.insert(0, earlier)
            start -= 1
    log = loaded[0] if len(loaded) == 1 else join_scalar_logs(loaded)
    return start, log, reason


def logged_runs(paths: Sequence[str]) -> list[str]:
    """``paths`` (runs of a work dir, oldest first) without the runs whose scalar log has no
    usable line (killed before or while logging their first, the newest or one between
    others), each named on stderr, newest first; all of them where none has a usable line,
    for :func:`load_scalar_log` to refuse the newest."""
    kept = [path for path in paths if _has_usable_line(path)]
    if not kept:
        return list(paths)
    for path in reversed(paths):
        if path not in kept:
            print(f'{path}: left out, as it has no usable line (its run stopped before '
                  f'logging one)', file=sys.stderr)
    return kept


def _has_usable_line(path: str) -> bool:
    """Whether the file ``path`` has a whole line that is a JSON dict with a ``step`` (read
    quietly: :func:`load_scalar_log` names what is wrong with the lines)."""
    with open(path, encoding='utf-8', errors='replace') as file:
        for line in file:
            try:
                value = json.loads(line) if line.endswith('\n') else None
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and 'step' in value:
                return True
    return False


def load_scalar_logs(paths: Sequence[str]) -> ScalarLog:
    """The newest of the scalar logs at ``paths`` (runs of a work dir, oldest first) joined
    by :func:`join_scalar_logs` with the runs it resumes; the runs before the first one not
    resumed are left out (:func:`load_resume_chain` says which, and why), and so are runs
    that logged nothing (:func:`logged_runs`), so that a run that resumes the run before
    such a one is still joined to it. A single path loads as :func:`load_scalar_log` does."""
    return load_resume_chain(logged_runs(paths))[1]


def _json_lines(path: str) -> list:
    """The JSON value of each line of ``path``, but a last line without its newline, which
    is skipped with a notice on stderr; bytes that are not UTF-8 read as U+FFFD, so that
    their line is named too."""
    with open(path, encoding='utf-8', errors='replace') as file:
        lines = file.read().splitlines(keepends=True)
    values = []
    for number, line in enumerate(lines, start=1):
        try:  # without its line break, so that an error's column is on this line
            values.append(json.loads(line.rstrip('\r\n')))
        except json.JSONDecodeError as error:
            if number == 1 and _is_json_document(lines):
                raise ValueError(f'{path} is one JSON document over {len(lines)} lines (a '
                                 'metrics file, such as tools/test.py --out writes?), not an '
                                 'mmengine scalar log (scalars.json), whose lines are JSON '
                                 'dicts, one a line') from None
            if number == 1 and not line.lstrip().startswith('{'):
                raise ValueError(f'{path} is not an mmengine scalar log (scalars.json), whose '
                                 f'lines are JSON dicts: its first line is not JSON '
                                 f'({error.msg})') from None
            if number == len(lines) and not line.endswith('\n'):
                print(f'{path}: skipped line {number}, cut short (no newline: the run stopped '
                      f'while writing it); plotting the {number - 1} lines before it',
                      file=sys.stderr)
                break
            raise ValueError(f'{path} line {number} column {error.colno} is not JSON '
                             f'({error.msg}); an mmengine scalar log has one JSON dict a '
                             f'line: repair or delete that line') from None
    return values


def _is_json_document(lines: Sequence[str]) -> bool:
    """Whether ``lines`` joined are one JSON value (a pretty-printed file)."""
    try:
        json.loads(''.join(lines))
    except json.JSONDecodeError:
        return False
    return True


def is_epoch_based(log: ScalarLog) -> bool:
    """Whether the run was epoch-based: its training lines carry an ``epoch``.

    In an epoch-based run the ``step`` of a validation line is the epoch."""
    return any('epoch' in line for line in log['train'])


def available_keys(log: ScalarLog, split: str) -> list[str]:
    """Every key of ``log``'s ``split`` lines, in order of first appearance."""
    return list(dict.fromkeys(key for line in log[split] for key in line))


def default_keys(logs: dict[str, ScalarLog]) -> list[str]:
    """``loss``, ``lr`` (where logged) and every validation metric of any of ``logs``."""
    train = {key for log in logs.values() for key in available_keys(log, 'train')}
    keys = [key for key in ('loss', 'lr') if key in train]
    metrics = (key for log in logs.values() for key in available_keys(log, 'val')
               if key.rpartition('/')[2] not in BOOKKEEPING_KEYS)
    return keys + [key for key in dict.fromkeys(metrics) if key not in keys]


def key_splits(logs: dict[str, ScalarLog], key: str) -> list[str]:
    """The splits, of ``'train'`` and ``'val'`` in that order, in whose lines any log has
    ``key`` (``time`` and ``data_time`` are in both); a ``KeyError`` that lists the available
    keys when none has it."""
    splits = [split for split in ('train', 'val')
              if any(key in available_keys(log, split) for log in logs.values())]
    if splits:
        return splits
    train, val = ({k for log in logs.values() for k in available_keys(log, split)}
                  for split in ('train', 'val'))
    raise KeyError(f'no log has the key {key!r}; training keys: {sorted(train)}, '
                   f'validation keys: {sorted(val)}')


def curve(log: ScalarLog, split: str, key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``key`` over ``log``'s ``split`` lines that have it."""
    lines = [line for line in log[split] if key in line]
    return [line['step'] for line in lines], [line[key] for line in lines]


def step_label(logs: Sequence[ScalarLog], split: str) -> str:
    """The x-axis label: a training step is an iteration; a validation step is an epoch
    in epoch-based runs and an iteration otherwise."""
    if split == 'train':
        return 'iteration'
    labels = dict.fromkeys('epoch' if is_epoch_based(log) else 'iteration' for log in logs)
    return ' / '.join(labels)


def draw_subplot(ax: Axes, logs: dict[str, ScalarLog], key: str, split: str,
                 legend: bool, title: str) -> None:
    """One line per log that has ``key`` in its ``split`` lines, labelled by the log's name,
    under ``title``; validation lines get a marker per evaluation, and so does any line of a
    single point (a line without a marker would draw nothing)."""
    with_key = {name: log for name, log in logs.items() if key in available_keys(log, split)}
    for name, log in with_key.items():
        steps, values = curve(log, split, key)
        marker = 'o' if split == 'val' or len(steps) < 2 else None
        ax.plot(steps, values, label=name, marker=marker)
    ax.set_title(title)
    ax.set_xlabel(step_label(list(with_key.values()), split))
    ax.grid(alpha=0.3)
    if legend:
        ax.legend()


def draw_curves(logs: dict[str, ScalarLog], keys: Sequence[str],
                title: str | None = None) -> Figure:
    """A figure with one subplot per key (in order) and one line per log that has the key.

    ``logs`` maps a legend name to a loaded log (:func:`load_scalar_log`); the legend is
    drawn when there is more than one log. A key logged both in training and in validation
    lines (``time``, ``data_time``) gets a subplot for each, titled ``time (training)`` and
    ``time (validation)``.
    """
    if not logs:
        raise ValueError('no log to plot')
    if not keys:
        raise ValueError('no key to plot')
    subplots = []  # (key, split, subplot title)
    for key in keys:
        splits = key_splits(logs, key)
        subplots += [(key, split, key if len(splits) == 1 else f'{key} ({SPLIT_NAMES[split]})')
                     for split in splits]
    columns = min(len(subplots), MAX_COLUMNS)
    rows = math.ceil(len(subplots) / columns)
    figure = Figure(figsize=(SUBPLOT_INCHES[0] * columns, SUBPLOT_INCHES[1] * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(subplots):]:
        ax.remove()
    for ax, (key, split, subplot_title) in zip(axes, subplots):
        draw_subplot(ax, logs, key, split, legend=len(logs) > 1, title=subplot_title)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_curves(logs: dict[str, ScalarLog], keys: Sequence[str], out_file: str,
                title: str | None = None, dpi: int = DEFAULT_DPI) -> str:
    """Draw ``keys`` of ``logs`` (:func:`draw_curves`) into ``out_file``, in the format its
    suffix names (matplotlib's ``savefig``); returns it.

    The image is ``SUBPLOT_INCHES × dpi`` pixels per subplot, ``MAX_COLUMNS`` subplots a
    row. The output folder must exist.
    """
    out_dir = osp.dirname(osp.abspath(out_file))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'the folder of the output file {out_file} does not exist')
    draw_curves(logs, keys, title).savefig(out_file, dpi=dpi)
    return out_file
