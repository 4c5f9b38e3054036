"""Progress over the images of a long dataset job (checking every image, converting a
release), readable in a log as well as on a terminal.

On a terminal it is mmengine's live bar. Written to a file or a pipe (a CI log, ``| tee``,
nohup) mmengine's ``ProgressBar`` writes a carriage-return update per image and rich's bar
only its final state, so neither shows progress there: :func:`plain_progress` prints a line
at each tenth of the images and at least once a minute instead.
"""
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from mmengine.utils import track_iter_progress

PROGRESS_STEPS = 10  # plain progress lines per run, one each tenth of the images
PROGRESS_INTERVAL_S = 60.0  # and one at least this often, for slow storage

Item = TypeVar('Item')


def plain_progress(items: Iterable[Item], total: int, verb: str = 'checked',
                   file: TextIO | None = None, steps: int = PROGRESS_STEPS,
                   interval_s: float = PROGRESS_INTERVAL_S,
                   unit: str = 'images') -> Iterator[Item]:
    """Yield ``items`` and, after each, print a line '<verb> <done>/<total> <unit>
    (<percent> %), <elapsed> s' to ``file`` (None: stdout) each time another 1/``steps`` of
    ``total`` is done, and when ``interval_s`` seconds passed since the last line: at most
    ``steps`` lines plus one per ``interval_s``."""
    start = last = time.monotonic()
    next_step = 1
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if done * steps >= next_step * total or now - last >= interval_s:
            print(f'{verb} {done}/{total} {unit} ({100 * done // total} %), '
                  f'{now - start:.0f} s', file=file, flush=True)
            next_step, last = done * steps // total + 1, now


def image_progress(items: Iterable[Item], verb: str, total: int | None = None,
                   unit: str = 'images') -> Iterator[Item]:
    """``items`` (``total`` of them; default ``len(items)``) with mmengine's live progress
    bar when stdout is a terminal, else with :func:`plain_progress` lines ('<verb>
    <done>/<total> <unit> ...')."""
    total = len(items) if total is None else total
    if sys.stdout.isatty():
        # sys.stdout as it is now: mmengine's default is the one it saw when it was imported
        return iter(track_iter_progress((items, total), file=sys.stdout))
    return plain_progress(items, total, verb, unit=unit)
