"""Time and peak extra memory of k-reciprocal re-ranking at Market-1501 and MSMT17 sizes.

Each size is a random problem of 2,048-d float32 features clustered into identities, as a
re-ID model's would be: every identity has a random centre, and each image is its centre
plus Gaussian noise of a standard deviation drawn for the image from ``NOISE``, its camera
drawn at random (seeded, so every run sees the same features). Sizes are those of the test
splits:

* ``market``: 3,368 queries and 15,913 gallery images of 750 identities, 6 cameras;
* ``msmt17``: 11,659 queries and 82,161 gallery images of 3,060 identities, 15 cameras.

``--scale`` multiplies these numbers (rounding up). Re-ranking with k1 = 20 needs more than 20
query and gallery images, so the smallest ``--scale`` is 0.00101 for ``market`` and 0.000207
for ``msmt17``; ``--memory-mib`` must give at least 128 bytes per image. Smaller values are
refused before any work, naming the smallest that works.

The measured run is what ``ReIDMetric(rerank=True)`` does: re-ranking from the embeddings
(``k_reciprocal_rerank_chunks``, cosine distance, k1 = 20, k2 = 6, λ = 0.3) streamed into
``RankAccumulator`` a chunk of queries at a time. Peak extra memory is the rise of the
process's resident-memory high-water mark (Linux ``VmHWM``, reset just before the run,
``rga_mm.testing.process_peak_rise``) over its resident memory then: NumPy, SciPy and
PyTorch memory together, the allocators' caches included; the features, made before, are not
counted. For comparison the table shows the (Q + G)² float32 matrix that a dense
implementation holds, and mAP / rank-1 without and with re-ranking (the plain ranking is
computed apart, outside the measured run).

Usage::

    PYTHONPATH=. python tools/analysis_tools/benchmark_rerank.py [--sizes market msmt17] \
        [--dim 2048] [--memory-mib 256] [--scale 1.0]
"""
import argparse
import math
import os
import time
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from typing import NamedTuple

import numpy as np
import torch

from rga_mm.deployment.arguments import (
    int_at_least,
    positive_float,
    positive_int_arg,
)
from rga_mm.evaluation.functional import (
    RankAccumulator,
    k_reciprocal_rerank_chunks,
    pairwise_distance,
)
from rga_mm.evaluation.functional.rerank import DEFAULT_K1, DEFAULT_K2, MIN_BYTES_PER_ITEM
from rga_mm.testing import process_peak_rise

MIB = 2**20
# the standard deviation of an image's noise around its identity's centre (whose entries
# have 1) is drawn uniformly from this range: some images are easy, others hard
NOISE = (3.0, 4.5)
# queries whose plain distances are computed at once, for the plain ranking
PLAIN_CHUNK = 1024
# query and gallery images that re-ranking needs with the k1 and k2 of the measured run
MIN_IMAGES = max(DEFAULT_K1 + 1, DEFAULT_K2)


class Size(NamedTuple):
    num_query: int
    num_gallery: int
    num_ids: int
    num_cams: int

    @property
    def num_images(self) -> int:
        """Queries and gallery images together: the items that re-ranking ranks."""
        return self.num_query + self.num_gallery


SIZES = {'market': Size(3368, 15913, 750, 6), 'msmt17': Size(11659, 82161, 3060, 15)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options; argparse's error for a ``--scale`` or ``--memory-mib`` at which
    re-ranking one of ``--sizes`` would be refused (:func:`check_rerank_sizes`)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', choices=sorted(SIZES), default=list(SIZES),
                        help='problem sizes to run, in order')
    parser.add_argument('--dim', type=positive_int_arg, default=2048, help='feature dimension')
    parser.add_argument('--memory-mib', type=positive_float, default=256,
                        help="re-ranking's work memory budget (max_memory_bytes) in MiB")
    parser.add_argument('--scale', type=positive_float, default=1.0,
                        help='multiply the numbers of queries, gallery images and '
                        'identities (e.g. 0.01 for a quick check; at least ' +
                        ', '.join(f'{smallest_scale(size):g} for {name}'
                                  for name, size in SIZES.items()) + ')')
    parser.add_argument('--seed', type=int_at_least(0), default=0,
                        help='seed of the random features, 0 or more (default: 0)')
    args = parser.parse_args(argv)
    check_rerank_sizes(parser, args)
    return args


def round_up(value: float) -> float:
    """``value`` rounded up to 3 significant digits: a smallest option value to print."""
    exact = Decimal(value)
    step = Decimal(1).scaleb(exact.adjusted() - 2)
    return float(exact.quantize(step, rounding=ROUND_CEILING))


def smallest_scale(size: Size) -> float:
    """The smallest ``--scale`` (to 3 significant digits, rounded up) at which ``size``
    has the :data:`MIN_IMAGES` query and gallery images that re-ranking needs."""
    too_small, enough = 0.0, 1.0  # the full sizes have thousands of images
    for _ in range(60):  # the scaled counts grow with the scale
        middle = (too_small + enough) / 2
        if scaled(size, middle).num_images >= MIN_IMAGES:
            enough = middle
        else:
            too_small = middle
    return round_up(enough)


def check_rerank_sizes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's error, naming the option and the smallest value that works, unless each
    of ``args.sizes`` scaled by ``args.scale`` has enough images for re-ranking's k1 and k2,
    and ``args.memory_mib`` holds a row of its work over the largest of them."""
    sizes = {name: scaled(SIZES[name], args.scale) for name in args.sizes}
    too_small = [name for name, size in sizes.items() if size.num_images < MIN_IMAGES]
    if too_small:
        name = max(too_small, key=lambda name: smallest_scale(SIZES[name]))
        parser.error(f'--scale {args.scale:g} gives {name} {sizes[name].num_images} query '
                     f'and gallery images, but re-ranking with k1 = {DEFAULT_K1} needs at '
                     f'least {MIN_IMAGES}: give --scale '
                     f'{smallest_scale(SIZES[name]):g} or more')
    name = max(sizes, key=lambda name: sizes[name].num_images)
    least = MIN_BYTES_PER_ITEM * sizes[name].num_images
    if int(args.memory_mib * MIB) < least:
        parser.error(f'--memory-mib {args.memory_mib:g} cannot hold one row of re-ranking '
                     f'work over the {sizes[name].num_images:,} query and gallery images of '
                     f'{name} at --scale {args.scale:g}: give --memory-mib '
                     f'{round_up(least / MIB):g} or more ({MIN_BYTES_PER_ITEM} bytes per '
                     f'image)')


class Problem(NamedTuple):
    query: torch.Tensor  # (Q, D)
    gallery: torch.Tensor  # (G, D)
    query_ids: np.ndarray  # (Q, )
    gallery_ids: np.ndarray  # (G, )
    query_cams: np.ndarray  # (Q, )
    gallery_cams: np.ndarray  # (G, )


def clustered_problem(size: Size, dim: int, seed: int) -> Problem:
    """Features, identities and cameras; every identity has an image on each side."""
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    def identities(count: int) -> np.ndarray:
        ids = np.concatenate([np.arange(size.num_ids),
                              rng.integers(0, size.num_ids, count - size.num_ids)])
        return rng.permutation(ids)

    def features(ids: np.ndarray) -> torch.Tensor:
        scale = torch.empty(ids.size, 1).uniform_(*NOISE, generator=generator)
        noise = torch.randn(ids.size, dim, generator=generator).mul_(scale)
        return noise.add_(centres[torch.from_numpy(ids)])

    centres = torch.randn(size.num_ids, dim, generator=generator)
    query_ids, gallery_ids = identities(size.num_query), identities(size.num_gallery)
    return Problem(features(query_ids), features(gallery_ids), query_ids, gallery_ids,
                   rng.integers(0, size.num_cams, size.num_query),
                   rng.integers(0, size.num_cams, size.num_gallery))


def scaled(size: Size, scale: float) -> Size:
    num_ids = max(2, math.ceil(size.num_ids * scale))
    return Size(max(num_ids, math.ceil(size.num_query * scale)),
                max(num_ids, math.ceil(size.num_gallery * scale)), num_ids, size.num_cams)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    budget = int(args.memory_mib * MIB)
    print(f'{args.dim}-d float32 features, cosine distance, k1 = 20, k2 = 6, λ = 0.3, '
          f'{args.memory_mib:g} MiB work budget; {torch.get_num_threads()} CPU threads, '
          f'load average {os.getloadavg()[0]:.1f} at the start (other processes slow the '
          f'times down)')
    print('| size | queries | gallery | re-ranking time (s) | peak extra RSS (MiB) | '
          'dense (Q + G)² float32 (MiB) | mAP plain → re-ranked (%) | '
          'rank-1 plain → re-ranked (%) |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for name in args.sizes:
        size = scaled(SIZES[name], args.scale)
        problem = clustered_problem(size, args.dim, args.seed)
        plain = RankAccumulator(problem.gallery_ids, problem.gallery_cams)
        for start in range(0, size.num_query, PLAIN_CHUNK):
            rows = slice(start, start + PLAIN_CHUNK)
            plain.add(pairwise_distance(problem.query[rows], problem.gallery).numpy(),
                      problem.query_ids[rows], problem.query_cams[rows])
        reranked = RankAccumulator(problem.gallery_ids, problem.gallery_cams)

        def rerank() -> None:
            for rows, distances in k_reciprocal_rerank_chunks(
                    problem.query, problem.gallery, max_memory_bytes=budget):
                reranked.add(distances, problem.query_ids[rows], problem.query_cams[rows])

        start = time.perf_counter()
        rise = process_peak_rise(rerank)
        seconds = time.perf_counter() - start
        before, after = plain.result(), reranked.result()
        rise_text = 'n/a' if rise is None else f'{rise / MIB:.0f}'
        dense = 4 * size.num_images**2 / MIB
        print(f'| {name} | {size.num_query:,} | {size.num_gallery:,} | {seconds:.1f} | '
              f'{rise_text} | {dense:,.0f} | {100 * before["mAP"]:.1f} → '
              f'{100 * after["mAP"]:.1f} | {100 * before["cmc"][0]:.1f} → '
              f'{100 * after["cmc"][0]:.1f} |')


if __name__ == '__main__':
    main()
