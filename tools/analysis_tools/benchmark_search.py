"""Time and extra memory of gallery search (``gallery_topk``) at a large gallery's size.

Random features, by default 100,000 gallery and 1,000 query embeddings of 2,048 floats
(the gallery alone is 781 MiB), cosine distance, top 10. ``gallery_topk`` walks the gallery
in blocks and keeps each query's k nearest; the straightforward way computes the whole
(Q, G) distance matrix with ``pairwise_distance`` and calls ``torch.topk`` on it. Both must
return the same lists (items at equal distances may come in either order).

Time is the best of ``--repeat`` runs. Extra memory, beyond the query and gallery features
the caller holds, is measured in separate runs, two ways:

* tensors: the peak total of the tensor storages created during the search, seen by
  ``rga_mm.testing.TensorMemoryTracker`` (a TorchDispatchMode that sees every tensor
  an aten op creates);
* process: the rise of the process's peak resident memory (Linux ``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before the search: ``rga_mm.testing.process_peak_rise``)
  over its resident memory then; it includes the allocator's and the libraries' own memory
  ("n/a" where the kernel does not allow the reset).

Usage::

    PYTHONPATH=. python tools/analysis_tools/benchmark_search.py [--num-gallery 100000 \
        --num-query 1000 --dim 2048 --topk 10 --max-chunk-mib 128 --repeat 3 --skip-baseline]
"""
import argparse
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rga_mm.deployment.arguments import positive_float, positive_int_arg
from rga_mm.evaluation.functional import gallery_topk, pairwise_distance
from rga_mm.testing import TensorMemoryTracker, process_peak_rise

MIB = 2**20


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-gallery', type=positive_int_arg, default=100_000)
    parser.add_argument('--num-query', type=positive_int_arg, default=1_000)
    parser.add_argument('--dim', type=positive_int_arg, default=2048)
    parser.add_argument('--topk', type=positive_int_arg, default=10)
    parser.add_argument('--max-chunk-mib', type=positive_float, default=128,
                        help="gallery_topk's work memory budget (max_chunk_bytes) in MiB")
    parser.add_argument('--repeat', type=positive_int_arg, default=3,
                        help='timed runs (the best counts)')
    parser.add_argument('--skip-baseline', action='store_true',
                        help='measure gallery_topk only')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.topk > args.num_gallery:
        parser.error(f'--topk {args.topk} is more than --num-gallery {args.num_gallery}')
    return args


def tensor_peak(run: Callable[[], object]) -> float:
    """MiB: the peak of the tensors created by ``run`` and alive at the same time."""
    with TensorMemoryTracker() as tracker:
        run()
    return tracker.peak_bytes / MIB


def best_time(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The shortest of ``repeat`` runs in seconds, and the last run's result."""
    best, result = float('inf'), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def same_lists(first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor],
               tolerance: float = 1e-5) -> bool:
    """Whether two top-k results, (distances, indices) of shape (Q, k) each in ascending
    distance, list the same items: the same distances (within ``tolerance``) and, in each
    row, the same indices but among ties (items at one distance may come in any order, and
    those tied with the k-th may differ: any of them is a k-th nearest)."""
    (distances, indices), (other_distances, other_indices) = first, second
    if not torch.allclose(distances, other_distances, rtol=0, atol=tolerance):
        return False
    before_last = distances < distances[:, -1:] - tolerance  # not tied with the k-th
    return all(set(row[kept].tolist()) == set(other_row[kept].tolist())
               for row, other_row, kept in zip(indices, other_indices, before_last))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    generator = torch.Generator().manual_seed(args.seed)
    gallery = torch.randn(args.num_gallery, args.dim, generator=generator)
    query = torch.randn(args.num_query, args.dim, generator=generator)
    budget = int(args.max_chunk_mib * MIB)

    def blockwise() -> tuple[torch.Tensor, torch.Tensor]:
        return gallery_topk(query, gallery, args.topk, 'cosine', max_chunk_bytes=budget)

    def full_matrix() -> tuple[torch.Tensor, torch.Tensor]:
        distances = pairwise_distance(query, gallery, 'cosine')
        return torch.topk(distances, args.topk, dim=1, largest=False)

    methods = [(f'gallery_topk (blocks, {args.max_chunk_mib:g} MiB budget)', blockwise)]
    if not args.skip_baseline:
        methods.append(('full matrix (pairwise_distance + topk)', full_matrix))
    print(f'problem: {args.num_query:,} queries × {args.num_gallery:,} gallery, '
          f'{args.dim}-d float32 features (gallery {gallery.nbytes / MIB:.0f} MiB, queries '
          f'{query.nbytes / MIB:.0f} MiB: not counted), top {args.topk}, cosine; '
          f'{torch.get_num_threads()} CPU threads')
    print('| method | time (s) | peak extra tensors (MiB) | peak extra RSS (MiB) |')
    print('|---|---:|---:|---:|')
    results = []
    for name, run in methods:
        seconds, result = best_time(run, args.repeat)
        results.append(result)
        tensors = tensor_peak(run)
        rss = process_peak_rise(run)
        rss_text = 'n/a' if rss is None else f'{rss / MIB:.0f}'
        print(f'| {name} | {seconds:.2f} | {tensors:.0f} | {rss_text} |')
    if len(results) == 2:
        same = same_lists(results[0], results[1])
        gap = (results[0][0] - results[1][0]).abs().max().item()
        print(f'same top-{args.topk} lists: {same}; largest distance difference {gap:.1e}')


if __name__ == '__main__':
    main()
