"""Time and peak memory of ``rank_metrics`` next to the straightforward evaluation.

The straightforward way is the plain reference of the tests,
``rga_mm.testing.plain_rank_metrics``: it sorts the indices of every row (one stable
``np.argsort`` of the whole matrix), then loops over the queries in Python, each step
vectorised over the gallery (filter, matches, AP, INP). Both run on the same random problem,
Market-1501 sized by default (3,368 queries, 15,913 gallery images of which 2,793 distractors, 750
identities, 6 cameras). ``rank_metrics`` runs on its default thread pool (a thread per
usable CPU, up to 8, or ``--num-threads``) and on one thread; the straightforward way uses
one. Time is the best of ``--repeat`` runs; peak memory is measured with tracemalloc in one
more run, so that tracing does not slow the timed runs.

The protocol counts no match under the query's own camera: ``--num-cams`` must be at least 2,
and the random problem must give some query a match under another camera (a few queries and
gallery images spread over many ``--num-ids`` may not); the options are refused otherwise,
before any timing.

Usage::

    PYTHONPATH=. python tools/analysis_tools/benchmark_metric.py [--num-query 11659 \
        --num-gallery 82161 --num-distractors 0 --num-ids 3060 --num-cams 15 --skip-baseline]
"""
import argparse
import functools
import os
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np

from rga_mm.deployment.arguments import int_at_least, positive_int_arg
from rga_mm.evaluation.functional import rank_metrics
from rga_mm.evaluation.functional.rank import DEFAULT_MAX_THREADS
from rga_mm.testing import plain_rank_metrics


def random_problem(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """A random distance matrix with Market-1501-like labels."""
    rng = np.random.default_rng(args.seed)
    query_ids = rng.integers(1, args.num_ids + 1, args.num_query)
    gallery_ids = rng.integers(1, args.num_ids + 1, args.num_gallery)
    gallery_ids[rng.choice(args.num_gallery, args.num_distractors, replace=False)] = 0
    query_cams = rng.integers(0, args.num_cams, args.num_query)
    gallery_cams = rng.integers(0, args.num_cams, args.num_gallery)
    distmat = rng.random((args.num_query, args.num_gallery), dtype=np.float32)
    return distmat, query_ids, gallery_ids, query_cams, gallery_cams


def has_valid_query(problem: tuple[np.ndarray, ...], num_ids: int, num_cams: int) -> bool:
    """Whether a query of ``problem`` (:func:`random_problem`) has a match in the gallery
    under another camera: the least that ``rank_metrics`` needs to score the ranking."""
    _, query_ids, gallery_ids, query_cams, gallery_cams = problem
    per_camera = np.zeros((num_ids + 1, num_cams), np.int64)  # gallery images of (id, cam)
    np.add.at(per_camera, (gallery_ids, gallery_cams), 1)
    other_cameras = per_camera.sum(axis=1)[query_ids] - per_camera[query_ids, query_cams]
    return bool(other_cameras.any())


def measure(function: Callable, problem: tuple[np.ndarray, ...],
            repeat: int) -> tuple[float, int, dict]:
    """Best seconds of ``repeat`` untraced runs, peak traced bytes of one more run, and the
    result."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*problem)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    function(*problem)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return min(seconds), peak, result


def build_parser() -> argparse.ArgumentParser:
    """The tool's options, each with its help and default (Market-1501's test split)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-query', type=positive_int_arg, default=3368,
                        help='query images (default: %(default)s)')
    parser.add_argument('--num-gallery', type=positive_int_arg, default=15913,
                        help='gallery images, distractors included (default: %(default)s)')
    parser.add_argument('--num-distractors', type=int_at_least(0), default=2793,
                        help='gallery images of no query identity (label 0), fewer than '
                             '--num-gallery (default: %(default)s)')
    parser.add_argument('--num-ids', type=positive_int_arg, default=750,
                        help='identities the labels are drawn from (default: %(default)s)')
    parser.add_argument('--num-cams', type=positive_int_arg, default=6,
                        help='cameras the images are drawn from, at least 2 (default: '
                             '%(default)s)')
    parser.add_argument('--seed', type=int_at_least(0), default=0,
                        help='seed of the random problem, 0 or more (default: %(default)s)')
    parser.add_argument('--repeat', type=positive_int_arg, default=3,
                        help='timed runs, the best kept (default: %(default)s)')
    parser.add_argument('--num-threads', type=positive_int_arg, default=None,
                        help="rank_metrics' threads (default: one per usable CPU, up to "
                             f"{DEFAULT_MAX_THREADS})")
    parser.add_argument('--skip-baseline', action='store_true',
                        help='time rank_metrics only, for MSMT17-sized problems (default: '
                             'the straightforward evaluation is timed too)')
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_distractors >= args.num_gallery:
        parser.error(f'--num-distractors {args.num_distractors} leaves no true match in '
                     f'--num-gallery {args.num_gallery}')
    if args.num_cams < 2:
        parser.error(f'--num-cams {args.num_cams} puts every image under one camera, and the '
                     f'protocol counts no match under the query\'s own camera: give '
                     f'--num-cams 2 or more')

    problem = random_problem(args)
    if not has_valid_query(problem, args.num_ids, args.num_cams):
        parser.error(f'no query of the random problem (--seed {args.seed}) has a match in '
                     f'the gallery under another camera: give more --num-query or '
                     f'--num-gallery, or fewer --num-ids or --num-distractors')
    usable_cpus = len(os.sched_getaffinity(0))
    num_threads = args.num_threads or min(usable_cpus, DEFAULT_MAX_THREADS)
    print(f'problem: {args.num_query} queries × {args.num_gallery} gallery, float32 distmat '
          f'{problem[0].nbytes / 2**20:.0f} MiB (not counted in peak memory); '
          f'{usable_cpus} usable CPUs')
    rows = []
    for threads in sorted({num_threads, 1}, reverse=True):  # the thread pool, then 1 thread
        name = f'rank_metrics ({threads} thread{"s" if threads > 1 else ""})'
        rows.append((name, *measure(functools.partial(rank_metrics, num_threads=threads),
                                    problem, args.repeat)))
    if not args.skip_baseline:
        rows.append(('straightforward (argsort + query loop)',
                     *measure(plain_rank_metrics, problem, args.repeat)))
    print(f'| {"method":<40} | {"time (s)":>8} | {"peak memory (MiB)":>17} | '
          f'{"mAP (%)":>7} | {"mINP (%)":>8} | {"R1 (%)":>6} |')
    print(f'|{"-" * 42}|{"-" * 9}:|{"-" * 18}:|{"-" * 8}:|{"-" * 9}:|{"-" * 7}:|')
    for name, seconds, peak, result in rows:
        print(f'| {name:<40} | {seconds:8.2f} | {peak / 2**20:17.0f} | '
              f'{100 * result["mAP"]:7.3f} | {100 * result["mINP"]:8.4f} | '
              f'{100 * result["cmc"][0]:6.3f} |')
    if not args.skip_baseline:
        baseline = rows[-1]
        one_thread = (f' ({baseline[1] / rows[1][1]:.1f}× on 1 thread)'
                      if len(rows) == 3 else '')
        print(f'speed-up: {baseline[1] / rows[0][1]:.1f}×{one_thread}; |ΔmAP| = '
              f'{abs(rows[0][3]["mAP"] - baseline[3]["mAP"]):.1e} (both break ties by '
              f'gallery order: rounding of the sums only)')


if __name__ == '__main__':
    main()
