"""CMC, mAP and mINP of a re-ID ranking, computed from a query × gallery distance matrix.

Protocol (docs/reid.md, "Evaluation protocol"; the same as torchreid's ``eval_market1501``):

* gallery items with the junk identity ``-1`` are removed from every ranking;
  distractors (identity 0 in Market-1501) stay and never match a real query;
* for each query, gallery items with the query's identity **and** camera are removed;
* a query with no remaining match (a *valid* match) is skipped, and counted as skipped;
* CMC@k is the share of valid queries whose first match is within the top k;
* AP averages the precision at the rank of every match of the ranked valid list;
* INP (Ye et al., TPAMI 2021) is ``number of matches / rank of the last match``.

Identities and cameras are labels: they must come as integers. A float array is refused,
even one of integral values such as 3.0, rather than truncated (3.7 would become 3 and merge
two identities; float32 holds integers exactly only up to 2**24).

Ranks are by ascending distance; equal distances are broken by gallery order (a stable
sort), so results are deterministic.

How it is computed without sorting each row's indices: only the ranks of the gallery items
that share the query's identity matter (a few per query). Each row's *values* are sorted (a
SIMD sort, several times faster than an index sort; non-negative distances are sorted as
the integers their bits read as, which is faster still; rows are sorted a few at a time,
while they sit in the CPU cache), and the rank of each same-identity item is found by a
binary search run for all of them at once; the items of the query's own camera are then
taken out of the count. Queries are processed in chunks, several at once on a thread pool
(NumPy sorts outside Python's GIL), so that the work arrays of all threads stay within
``max_work_bytes`` (default 32 MiB, whatever the problem size). mAP and mINP are exactly
rounded sums over the queries, so they depend neither on the query order nor on the
chunking.
"""
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

JUNK_ID = -1
DEFAULT_MAX_WORK_BYTES = 32 * 2**20
SORT_PIECE_BYTES = 2 * 2**20
# threads used by default at most: each one gets its share of the memory budget, so more of
# them would make the chunks (and so the sorts) small
DEFAULT_MAX_THREADS = 8


def rank_metrics(distmat: np.ndarray,
                 query_ids: np.ndarray,
                 gallery_ids: np.ndarray,
                 query_cams: np.ndarray,
                 gallery_cams: np.ndarray,
                 max_rank: int = 50,
                 max_work_bytes: int = DEFAULT_MAX_WORK_BYTES,
                 num_threads: int | None = None
                 ) -> dict[str, np.ndarray | float | int]:
    """Evaluate a re-ID ranking (the protocol of the module docstring).

    Args:
        distmat: (Q, G) distances, smaller is more similar; any real dtype (not NaN).
        query_ids: (Q,) identity of each query (integers).
        gallery_ids: (G,) identity of each gallery item (integers); ``-1`` marks junk.
        query_cams: (Q,) camera of each query (integers).
        gallery_cams: (G,) camera of each gallery item (integers).
        max_rank: length of the returned CMC curve.
        max_work_bytes: bound on the memory of the work arrays of all threads together
            (the input ``distmat`` is not counted); a chunk holds at least one query row,
            whatever the bound.
        num_threads: query chunks evaluated at once; default: the CPUs this process may
            run on, at most ``DEFAULT_MAX_THREADS``.

    Returns:
        ``cmc``: (max_rank,) float64, ``cmc[k]`` = share of valid queries matched within
        the top k + 1; ``mAP`` and ``mINP``: floats in [0, 1]; ``num_valid_queries``: the
        number of queries that have at least one valid match (those evaluated);
        ``num_skipped_queries``: the others, Q - ``num_valid_queries``.

    Raises:
        ValueError: on inconsistent sizes, NaN distances, labels that are not integers,
            or when no query has a valid match.
    """
    distmat = np.asarray(distmat)
    query_ids, gallery_ids, query_cams, gallery_cams = _check_input(
        distmat, query_ids, gallery_ids, query_cams, gallery_cams, max_rank)
    accumulator = RankAccumulator(gallery_ids, gallery_cams, max_rank, max_work_bytes,
                                  num_threads)
    accumulator.add(distmat, query_ids, query_cams)
    return accumulator.result()


class RankAccumulator:
    """:func:`rank_metrics` of a distance matrix given a chunk of query rows at a time,
    e.g. re-ranked distances that are never held whole.

    ``add`` the chunks (of any sizes, in any order, each query once), then read
    ``result()``: it equals :func:`rank_metrics` of the whole matrix, to the last bit (the
    scores of each query do not depend on the others, and mAP and mINP are exactly rounded
    sums). Arguments as :func:`rank_metrics`; ``max_work_bytes`` bounds the work arrays of
    each ``add``.
    """

    def __init__(self,
                 gallery_ids: np.ndarray,
                 gallery_cams: np.ndarray,
                 max_rank: int = 50,
                 max_work_bytes: int = DEFAULT_MAX_WORK_BYTES,
                 num_threads: int | None = None) -> None:
        gallery_ids = _integer_labels('gallery_ids', np.asarray(gallery_ids).reshape(-1))
        gallery_cams = _integer_labels('gallery_cams', np.asarray(gallery_cams).reshape(-1))
        if gallery_ids.size != gallery_cams.size:
            raise ValueError(f'gallery_ids has {gallery_ids.size} entries but gallery_cams '
                             f'has {gallery_cams.size}')
        if max_rank < 1:
            raise ValueError(f'max_rank must be at least 1, got {max_rank}')
        if num_threads is None:
            num_threads = min(_usable_cpus(), DEFAULT_MAX_THREADS)
        self.gallery_ids, self.gallery_cams = gallery_ids, gallery_cams
        self.max_rank, self.max_work_bytes = max_rank, max_work_bytes
        self.num_threads = max(1, num_threads)
        self.evaluators: dict[np.dtype, _ChunkEvaluator] = {}
        self.per_chunk: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.num_query = 0

    def add(self, distmat: np.ndarray, query_ids: np.ndarray,
            query_cams: np.ndarray) -> np.ndarray:
        """Take in the (q, G) distances of q queries, their (q,) identities and cameras.

        Returns:
            (q,) float64, the average precision of each of these queries in [0, 1], NaN for
            a query without a valid match (skipped by the scores).
        """
        distmat = np.asarray(distmat)
        query_ids, _, query_cams, _ = _check_input(
            distmat, query_ids, self.gallery_ids, query_cams, self.gallery_cams, self.max_rank)
        if not np.issubdtype(distmat.dtype, np.floating):
            distmat = distmat.astype(np.float64)
        if distmat.dtype not in self.evaluators:
            self.evaluators[distmat.dtype] = _ChunkEvaluator(
                self.gallery_ids, self.gallery_cams, distmat.dtype,
                self.max_work_bytes // self.num_threads)
        evaluator = self.evaluators[distmat.dtype]

        def evaluate(rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            return evaluator(distmat[rows], query_ids[rows], query_cams[rows])

        num_query, step = distmat.shape[0], evaluator.rows_per_chunk
        chunks = [slice(start, min(start + step, num_query))
                  for start in range(0, num_query, step)]
        if self.num_threads == 1 or len(chunks) == 1:
            evaluated = [evaluate(rows) for rows in chunks]
        else:
            with ThreadPoolExecutor(min(self.num_threads, len(chunks))) as pool:
                evaluated = list(pool.map(evaluate, chunks))
        average_precision = np.full(num_query, np.nan)
        for rows, (valid, ap, inp, first_rank) in zip(chunks, evaluated):
            average_precision[rows.start + valid] = ap
            self.per_chunk.append((ap, inp, first_rank))
        self.num_query += num_query
        return average_precision

    def result(self) -> dict[str, np.ndarray | float | int]:
        """The scores of all queries added (see :func:`rank_metrics`)."""
        if not self.per_chunk:
            raise ValueError('RankAccumulator.result: no query was added')
        ap, inp, first_rank = (np.concatenate(values) for values in zip(*self.per_chunk))
        if ap.size == 0:
            raise ValueError(f'none of the {self.num_query} queries has a match in the '
                             f'gallery outside its own camera; check that query and gallery '
                             f'come from the same dataset split, or evaluate data whose '
                             f'identities each appear under one camera without the camera '
                             f'rule (ReIDMetric(exclude_same_camera=False))')
        first_rank_hist = np.bincount(np.minimum(first_rank, self.max_rank + 1) - 1,
                                      minlength=self.max_rank + 1)  # last bin: beyond
        return dict(
            cmc=np.cumsum(first_rank_hist[:self.max_rank]) / ap.size,
            mAP=math.fsum(ap) / ap.size,
            mINP=math.fsum(inp) / ap.size,
            num_valid_queries=ap.size,
            num_skipped_queries=self.num_query - ap.size)


def _usable_cpus() -> int:
    """The CPUs this process may run on (all of them where the OS cannot tell)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _ChunkEvaluator:
    """``evaluate(block, query_ids, query_cams)`` evaluates a chunk of query rows of a
    given dtype: it returns the rows of the chunk's valid queries (ascending), and the AP,
    the INP and the rank of the first match of each of them, in that order.

    A thread's work arrays stay within ``max_work_bytes``: half of it for the sorted rows
    of a chunk of up to ``rows_per_chunk`` rows (a buffer per thread, allocated on its
    first chunk and reused, grown if a later chunk has more rows), a quarter
    for tie counting, the rest for the per-match arrays (a few dozen bytes per
    same-identity pair).
    """

    def __init__(self, gallery_ids: np.ndarray, gallery_cams: np.ndarray, dtype: np.dtype,
                 max_work_bytes: int) -> None:
        self.dtype, self.max_work_bytes = dtype, max_work_bytes
        kept = np.flatnonzero(gallery_ids != JUNK_ID)
        self.columns = kept if kept.size < gallery_ids.size else slice(None)
        self.by_identity = _IdentityIndex(gallery_ids[kept])
        self.gallery_cams = gallery_cams[kept]
        self.num_kept = kept.size
        row_bytes = max(kept.size, 1) * dtype.itemsize
        self.rows_per_chunk = max(1, max_work_bytes // 2 // row_bytes)
        self.per_thread = threading.local()

    def __call__(self, block: np.ndarray, query_ids: np.ndarray,
                 query_cams: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        sorted_rows = getattr(self.per_thread, 'sorted_rows', None)
        if sorted_rows is None or sorted_rows.shape[0] < block.shape[0]:
            sorted_rows = np.empty((block.shape[0], self.num_kept), self.dtype)
            self.per_thread.sorted_rows = sorted_rows
        _sort_rows(block, self.columns, sorted_rows)
        query, rank, hit = _valid_match_ranks(
            block, self.columns, sorted_rows, query_ids, query_cams, self.gallery_cams,
            self.by_identity, self.max_work_bytes)
        if query.size == 0:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
        is_first = np.r_[True, query[1:] != query[:-1]]
        is_last = np.r_[query[1:] != query[:-1], True]
        valid, num_matches = query[is_last], hit[is_last]
        ap = np.bincount(query, weights=hit / rank)[valid] / num_matches
        return valid, ap, num_matches / rank[is_last], rank[is_first]


class _IdentityIndex:
    """Gallery items grouped by identity (a CSR index): ``items(ids)`` lists, for every
    query identity, the gallery positions holding that identity."""

    def __init__(self, gallery_ids: np.ndarray) -> None:
        self.order = np.argsort(gallery_ids, kind='stable')
        self.ids, self.starts, self.counts = np.unique(
            gallery_ids[self.order], return_index=True, return_counts=True)

    def items(self, query_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query position, gallery position) of every same-identity pair, query-major."""
        if self.ids.size == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty
        where = np.minimum(np.searchsorted(self.ids, query_ids), self.ids.size - 1)
        counts = np.where(self.ids[where] == query_ids, self.counts[where], 0)
        query = np.repeat(np.arange(query_ids.size), counts)
        offset = np.arange(query.size) - np.repeat(np.cumsum(counts) - counts, counts)
        return query, self.order[np.repeat(self.starts[where], counts) + offset]


def _sort_rows(block: np.ndarray, columns: np.ndarray | slice,
               out: np.ndarray) -> None:
    """Write the sorted ``block[:, columns]`` into the first rows of ``out``.

    Rows are copied and sorted a few at a time, so that each piece is sorted while it is
    in the CPU cache (about twice as fast as sorting a large block at once).
    """
    step = max(1, SORT_PIECE_BYTES // max(1, out.shape[1] * out.itemsize))
    for start in range(0, block.shape[0], step):
        piece = out[start:start + step][:block.shape[0] - start]
        if isinstance(columns, slice):
            np.copyto(piece, block[start:start + step])
        else:
            np.take(block[start:start + step], columns, axis=1, out=piece)
        _sort_values(piece)


def _sort_values(rows: np.ndarray) -> None:
    """Sort each row in place. Floats without a sign bit (no negative value, and no -0.0,
    which must stay equal to 0.0) order as their bit patterns read as integers, which NumPy
    sorts faster; NaN still sorts last."""
    as_int = rows.view(f'i{rows.itemsize}') if rows.itemsize in (4, 8) else None
    if as_int is not None and as_int.size and as_int.min() >= 0:
        as_int.sort(axis=1)
    else:
        rows.sort(axis=1)


def _valid_match_ranks(block: np.ndarray, columns: np.ndarray | slice,
                       sorted_rows: np.ndarray, query_ids: np.ndarray,
                       query_cams: np.ndarray, gallery_cams: np.ndarray,
                       by_identity: _IdentityIndex,
                       max_work_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks of the valid matches of a chunk of queries.

    Args:
        block: (q, G) distances of the chunk (junk columns included).
        columns: the junk-free columns of ``block`` (a slice when there is no junk).
        sorted_rows: (>= q, g) whose first q rows are ``block[:, columns]``, sorted.

    Returns:
        Three (m,) int arrays over the valid matches, ordered by query then rank: the
        query's row in ``block``; the match's 1-based rank in the query's valid list; the
        match's 1-based number among that query's matches.
    """
    query, item = by_identity.items(query_ids)
    if query.size == 0:
        return query, query, query
    column = np.arange(block.shape[1])[columns][item]
    dist = block[query, column]
    if np.isnan(sorted_rows[:block.shape[0], -1]).any():  # NaN sorts last
        raise ValueError('distmat contains NaN values')
    flat = sorted_rows.reshape(-1)
    row_start = query * sorted_rows.shape[1]
    before = _lower_bound(flat, row_start, sorted_rows.shape[1], dist)
    # the item itself sits at ``before``; another equal value can only follow it
    next_ = np.minimum(before + 1, sorted_rows.shape[1] - 1)
    tied = np.flatnonzero((before + 1 < sorted_rows.shape[1]) &
                          (flat[row_start + next_] == dist))
    if tied.size:
        before[tied] += _count_ties_before(block, columns, query[tied], item[tied],
                                           dist[tied], max_work_bytes)

    by_rank = np.lexsort((before, query))
    query, before = query[by_rank], before[by_rank]
    same_cam = gallery_cams[item[by_rank]] == query_cams[query]
    # Same-camera matches are removed from the list: a match moves up by the number of
    # same-camera matches ranked before it.
    is_first = np.r_[True, query[1:] != query[:-1]]
    first_of_row = np.flatnonzero(is_first)[np.cumsum(is_first) - 1]
    removed_before = _exclusive_cumsum(same_cam)
    removed_before -= removed_before[first_of_row]
    valid = ~same_cam
    query, rank = query[valid], (before - removed_before + 1)[valid]
    valid_before = _exclusive_cumsum(valid)
    hit = valid_before[valid] - valid_before[first_of_row[valid]] + 1
    return query, rank, hit


def _lower_bound(flat: np.ndarray, row_start: np.ndarray, row_length: int,
                 values: np.ndarray) -> np.ndarray:
    """Per pair i, how many entries of the sorted row ``flat[row_start[i]:][:row_length]``
    are < ``values[i]``: a branch-free binary search run for all pairs at once."""
    base = row_start.copy()
    length = row_length
    while length > 1:
        half = length // 2
        base += np.where(flat[base + half] < values, half, 0)
        length -= half
    return base - row_start + (flat[base] < values)


def _count_ties_before(block: np.ndarray, columns: np.ndarray | slice,
                       rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                       max_work_bytes: int) -> np.ndarray:
    """Per pair i, how many of ``block[rows[i], columns][:cols[i]]`` equal ``values[i]``."""
    step = max(1, max_work_bytes // 4 // (block.shape[1] * (2 * block.itemsize + 1)))
    position = np.arange(np.arange(block.shape[1])[columns].size)
    counts = np.empty(rows.size, np.int64)
    for start in range(0, rows.size, step):
        part = slice(start, start + step)
        equal = block[rows[part]][:, columns] == values[part, None]
        equal &= position < cols[part, None]
        counts[part] = equal.sum(axis=1)
    return counts


def _exclusive_cumsum(flags: np.ndarray) -> np.ndarray:
    counts = np.cumsum(flags, dtype=np.int64)
    counts -= flags
    return counts


def _check_input(distmat: np.ndarray, *labels_and_max_rank) -> tuple[np.ndarray, ...]:
    """Validate shapes and label types; return the four label arrays as 1-D int64 arrays."""
    *labels, max_rank = labels_and_max_rank
    if distmat.ndim != 2:
        raise ValueError(f'distmat must be 2-D (num_query × num_gallery), got shape '
                         f'{distmat.shape}')
    num_query, num_gallery = distmat.shape
    if num_query == 0 or num_gallery == 0:
        raise ValueError(f'rank_metrics needs at least one query and one gallery item, '
                         f'got a distmat of shape {distmat.shape}')
    if max_rank < 1:
        raise ValueError(f'max_rank must be at least 1, got {max_rank}')
    names = ('query_ids', 'gallery_ids', 'query_cams', 'gallery_cams')
    expected = (num_query, num_gallery, num_query, num_gallery)
    arrays = []
    for name, size, values in zip(names, expected, labels):
        values = np.asarray(values).reshape(-1)
        if values.size != size:
            side = 'query rows' if name.startswith('query') else 'gallery columns'
            raise ValueError(f'{name} has {values.size} entries but distmat has {size} '
                             f'{side}')
        arrays.append(_integer_labels(name, values))
    return tuple(arrays)


def _integer_labels(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as int64 if they are of an integer dtype; an error naming the first
    offending value otherwise (see the module docstring: floats are never truncated)."""
    if values.dtype.kind in 'iu':
        return values.astype(np.int64)
    if values.size == 0:
        raise ValueError(f'{name} is empty: ranking needs at least one image on each side')
    position = 0
    if values.dtype.kind == 'f':
        fractional = np.flatnonzero(values != np.round(values))
        position = int(fractional[0]) if fractional.size else 0
    value = values[position:position + 1].tolist()[0]
    raise ValueError(f'{name} must be integers, got dtype {values.dtype} with '
                     f'{value!r} at position {position}; identities and cameras '
                     f'are labels, and rank_metrics refuses to truncate them (convert exact '
                     f'values with .astype(int))')
