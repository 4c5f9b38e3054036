"""Exact top-k retrieval over a gallery of any size, block by block.

The evaluation (``rank.py``) needs each query's whole ranking; a search needs only its first
k items, and the (Q, G) distance matrix need never exist. :func:`gallery_topk` walks the
gallery in blocks of rows: it computes the distances of a chunk of queries to one block
(the evaluation's own :func:`pairwise_distance`, which normalises only that block for the
cosine distance), keeps each query's k nearest of the block and merges them into the k
nearest so far. :func:`distance_topk` does the same on a distance matrix already computed
(e.g. re-ranked). The work arrays stay within ``max_chunk_bytes`` whatever Q and G.
:func:`square_topk` finds the k nearest of items among themselves (re-ranking's
neighbourhoods) from square tiles of their distances, which a function computes.

The result is the evaluation's ranking cut at k: ascending distance, equal distances in
gallery order (the evaluation sorts stably). ``torch.topk`` leaves the order of equal values
open, so the items kept from a block are re-sorted by (distance, index), a block row whose
items tied at the k-th distance do not all fit is sorted whole (stably), and blocks are
merged with a stable sort, earlier blocks first. With identities and cameras given, the
items the evaluation protocol removes (docs/reid.md, "Evaluation protocol") are left out: junk
(identity -1), and the query's own identity seen by the query's own camera.
"""
from collections.abc import Callable

import numpy as np
import torch

from .distance import pairwise_distance
from .rank import JUNK_ID

DEFAULT_MAX_CHUNK_BYTES = 128 * 2**20
# bytes of work per (query, gallery item) pair of a block: the float32 distances and the
# temporary they are computed from, the boolean exclusion mask, the boolean tie count
BYTES_PER_PAIR = 4 + 4 + 1 + 1
MAX_BLOCK_ROWS = 4096
ArrayLike = np.ndarray | torch.Tensor
Labels = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None


def gallery_topk(query: torch.Tensor, gallery: torch.Tensor, k: int, metric: str = 'cosine',
                 query_ids: ArrayLike | None = None, gallery_ids: ArrayLike | None = None,
                 query_cams: ArrayLike | None = None, gallery_cams: ArrayLike | None = None,
                 max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest gallery items of every query, without a (Q, G) matrix.

    Args:
        query: (Q, D) embeddings.
        gallery: (G, D) embeddings.
        k: items kept per query, 1..G.
        metric: ``'cosine'`` or ``'euclidean'``, as :func:`pairwise_distance`.
        query_ids, gallery_ids, query_cams, gallery_cams: (Q,), (G,), (Q,), (G,) integer
            identities and cameras; when given (all four), the items the evaluation
            protocol removes are left out of each query's list.
        max_chunk_bytes: bound on the work arrays (a block of normalised gallery rows and
            the distances of a chunk of queries to it, with their masks); a chunk holds
            one query and a block one gallery row at least, whatever the bound.

    Returns:
        ``distances``: (Q, k) float32, ascending along each row; ``indices``: (Q, k) int64
        gallery indices, equal distances in gallery order. Where a query has fewer than k
        items left after the protocol's removals, its row ends in ``inf`` / ``-1``.
    """
    _check_embeddings(query, gallery)
    num_query, num_gallery = query.shape[0], gallery.shape[0]
    k = _check_k(k, num_gallery)
    labels = _labels(query_ids, gallery_ids, query_cams, gallery_cams, num_query, num_gallery)
    # the normalised copy of a gallery block takes up to half of the budget
    block = max(1, min(num_gallery, MAX_BLOCK_ROWS,
                       max_chunk_bytes // 2 // (4 * query.shape[1])))

    def distances(rows: slice, columns: slice) -> torch.Tensor:
        return pairwise_distance(query[rows], gallery[columns], metric)

    return _blockwise_topk(distances, num_query, num_gallery, k, labels, block,
                           max_chunk_bytes)


def distance_topk(distmat: ArrayLike, k: int,
                  query_ids: ArrayLike | None = None, gallery_ids: ArrayLike | None = None,
                  query_cams: ArrayLike | None = None, gallery_cams: ArrayLike | None = None,
                  max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`gallery_topk` of a (Q, G) distance matrix already computed (e.g. by
    :func:`k_reciprocal_rerank`): same arguments and results; ``distmat`` is not changed."""
    distmat = torch.as_tensor(distmat)
    if distmat.dim() != 2:
        raise ValueError(f'expected a (Q, G) distance matrix, got shape {tuple(distmat.shape)}')
    num_query, num_gallery = distmat.shape
    k = _check_k(k, num_gallery)
    labels = _labels(query_ids, gallery_ids, query_cams, gallery_cams, num_query, num_gallery)

    def distances(rows: slice, columns: slice) -> torch.Tensor:
        return distmat[rows, columns].to(torch.float32, copy=True)

    return _blockwise_topk(distances, num_query, num_gallery, k, labels,
                           min(num_gallery, MAX_BLOCK_ROWS), max_chunk_bytes)


def _blockwise_topk(distances: Callable[[slice, slice], torch.Tensor], num_query: int,
                    num_gallery: int, k: int, labels: Labels, block: int,
                    max_chunk_bytes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of the (Q, G) matrix whose (rows, columns) blocks ``distances`` computes."""
    rows = max(1, (max_chunk_bytes // 2) // (BYTES_PER_PAIR * block))
    values = torch.empty((num_query, k), dtype=torch.float32)
    indices = torch.empty((num_query, k), dtype=torch.int64)
    for start in range(0, num_query, rows):
        chunk = slice(start, min(start + rows, num_query))
        best = (torch.full((chunk.stop - start, k), float('inf')),
                torch.full((chunk.stop - start, k), -1, dtype=torch.int64))
        for first in range(0, num_gallery, block):
            columns = slice(first, min(first + block, num_gallery))
            block_distances = distances(chunk, columns)
            _check_not_nan(block_distances, start, first)
            if labels is not None:
                _remove_protocol_items(block_distances, labels, chunk, columns)
            best = _merge(best, _smallest(block_distances, min(k, block_distances.shape[1]),
                                          first), k)
        values[chunk], indices[chunk] = best
    indices[torch.isinf(values)] = -1
    return values, indices


def square_topk(distances: Callable[[slice, slice], torch.Tensor], num_items: int, k: int,
                tile: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest of each of N items among the same N items (itself included), from the
    (N, N) distances whose (rows, columns) blocks ``distances`` computes, ``tile`` × ``tile``
    items at a time.

    With ``symmetric`` distances each pair of tiles is computed once and read both ways:
    half the work. Every row meets the tiles of its columns in order, so the result is
    ordered as :func:`gallery_topk`'s: ascending distance, equal distances in item order.
    The distances must not be NaN.

    Returns:
        ``distances``: (N, k) float32, ascending along each row; ``indices``: (N, k) int64.
    """
    values = torch.full((num_items, k), float('inf'))
    indices = torch.full((num_items, k), -1, dtype=torch.int64)

    def take(rows: slice, block: torch.Tensor, first_column: int) -> None:
        values[rows], indices[rows] = _merge(
            (values[rows], indices[rows]),
            _smallest(block, min(k, block.shape[1]), first_column), k)

    for first_row in range(0, num_items, tile):
        rows = slice(first_row, min(first_row + tile, num_items))
        for first_column in range(first_row, num_items, tile):
            columns = slice(first_column, min(first_column + tile, num_items))
            block = distances(rows, columns)
            take(rows, block, first_column)
            if first_column > first_row:  # the rows of ``columns`` met earlier tiles first
                take(columns, block.T if symmetric else distances(columns, rows), first_row)
    return values, indices


def _remove_protocol_items(block: torch.Tensor, labels: Labels, rows: slice,
                           columns: slice) -> None:
    """Set to inf, in place, the distances the evaluation protocol ignores: junk gallery
    items, and those of the query's identity seen by the query's camera."""
    query_ids, gallery_ids, query_cams, gallery_cams = labels
    removed = ((query_ids[rows, None] == gallery_ids[columns])
               & (query_cams[rows, None] == gallery_cams[columns]))
    removed |= gallery_ids[columns] == JUNK_ID
    block.masked_fill_(removed, float('inf'))


def _smallest(block: torch.Tensor, k: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, b) distances → their k smallest per row and the gallery indices (column +
    ``offset``), ordered by (distance, index)."""
    values, indices = torch.topk(block, k, dim=1, largest=False, sorted=True)
    indices, order = indices.sort(dim=1)
    values, order = values.gather(1, order).sort(dim=1, stable=True)
    indices = indices.gather(1, order)
    # rows whose items tied at the k-th distance do not all fit: which of them topk kept is
    # unspecified, so sort those rows whole (stably) to keep the earliest
    kth = values[:, -1:]
    crowded = ((block <= kth).sum(dim=1) > k) & torch.isfinite(kth[:, 0])
    for row in torch.nonzero(crowded)[:, 0].tolist():
        row_values, row_indices = block[row].sort(stable=True)
        values[row], indices[row] = row_values[:k], row_indices[:k]
    return values, indices + offset


def _merge(best: tuple[torch.Tensor, torch.Tensor], new: tuple[torch.Tensor, torch.Tensor],
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest of two (distance, index)-ordered lists whose second holds only later
    gallery items: a stable sort keeps equal distances in gallery order."""
    values = torch.cat([best[0], new[0]], dim=1)
    indices = torch.cat([best[1], new[1]], dim=1)
    values, order = values.sort(dim=1, stable=True)
    return values[:, :k], indices.gather(1, order[:, :k])


def _check_embeddings(query: torch.Tensor, gallery: torch.Tensor) -> None:
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f'expected (Q, D) and (G, D) embeddings, got shapes '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')


def _check_not_nan(block: torch.Tensor, first_query: int, first_item: int) -> None:
    """Refuse NaN distances (from NaN embeddings or distances), which have no rank; checked
    a block at a time, as a check of the whole gallery would take a (G, D) mask."""
    nan = torch.isnan(block)
    if nan.any():
        row, column = (int(i) for i in torch.nonzero(nan)[0])
        raise ValueError(f'the distance of query {first_query + row} to gallery item '
                         f'{first_item + column} is NaN (NaN in the embeddings or distances), '
                         f'which has no rank')


def _check_k(k: int, num_gallery: int) -> int:
    if num_gallery == 0:
        raise ValueError('the gallery is empty: there is nothing to rank')
    if not 1 <= k <= num_gallery:
        raise ValueError(f'k must be between 1 and the gallery size {num_gallery}, got {k}')
    return k


def _labels(query_ids, gallery_ids, query_cams, gallery_cams, num_query: int,
            num_gallery: int) -> Labels:
    """The four label arrays as int64 tensors, or None when none is given."""
    given = [x is not None for x in (query_ids, gallery_ids, query_cams, gallery_cams)]
    if not any(given):
        return None
    if not all(given):
        raise ValueError('give all four of query_ids, gallery_ids, query_cams and '
                         'gallery_cams to apply the evaluation protocol, or none of them')
    labels = []
    for name, values, size in (('query_ids', query_ids, num_query),
                               ('gallery_ids', gallery_ids, num_gallery),
                               ('query_cams', query_cams, num_query),
                               ('gallery_cams', gallery_cams, num_gallery)):
        values = torch.as_tensor(np.asarray(values))
        if values.shape != (size, ) or values.is_floating_point():
            raise ValueError(f'{name} must be {size} integers, got {values.dtype} values '
                             f'of shape {tuple(values.shape)}')
        labels.append(values.long())
    return tuple(labels)
