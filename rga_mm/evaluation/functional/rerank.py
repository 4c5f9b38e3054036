"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), exact, without the (Q + G)² distance matrix.

Symbols → names: the Q queries and G gallery items are one set of N = Q + G items
(``joint_distance.py``); N(p, k) = ``nearest`` (the k + 1 nearest, p itself included, ties
by item order), R(p, k) the k-reciprocal neighbours (q ∈ N(p, k) and p ∈ N(q, k)),
R*(p, k) = ``expanded`` (R(p, k) plus R(q, k/2) of each q ∈ R(p, k) that shares more than
2/3 of its members with R(p, k)), V_p = ``encoding`` (weights exp(-d(p, q)) on R*(p, k),
normalised to sum 1), local query expansion (V_p ← the mean of V_q over the k2 nearest q),
Jaccard distance d_J(p, g) = 1 - Σ min(V_p, V_g) / Σ max(V_p, V_g), and the final distance
(1 - λ) d_J + λ d. As in the authors' released code, d is the squared distance of each item,
divided by the largest over all N items.

How it runs, each step in work arrays of about ``max_memory_bytes``:

1. one pass over square tiles of the joint distances keeps each item's max(k1 + 1, k2)
   nearest (:func:`~.topk.square_topk`, exact; a tile of distances computed from
   embeddings also stands for its transpose) and each item's largest distance;
2. R and R* are sparse boolean (N, N) matrices: R(·, k) = N(·, k) ∘ N(·, k)ᵀ, and the
   overlaps |R(p, k1) ∩ R(q, k1/2)| are a sparse product, taken by chunks of rows;
3. V is sparse; its weights need the distances of the pairs of R*: those of a chunk of rows
   are computed as one block, to the union of the chunk's R*;
4. local query expansion is a sparse product;
5. by chunks of queries, the Jaccard distances to the gallery and the final distances; each
   chunk is handed to the caller (e.g. :class:`~.rank.RankAccumulator`) and dropped, so the
   (Q, G) matrix is not held whole either.

Besides the work arrays, the sparse V and its expansion hold O(N · k2 · |R*|) numbers
(measured by ``tools/analysis_tools/benchmark_rerank.py``). The result equals the dense
computation up to float rounding: the distances are computed block by block, which may
change their last bit, and so the order of two items at the same distance up to that bit.
"""
import math
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from scipy import sparse

from .joint_distance import EmbeddingDistances, MatrixDistances
from .topk import square_topk

Distances = EmbeddingDistances | MatrixDistances

# the paper's neighbourhood sizes and weight of the original distance (k-reciprocal
# re-ranking, Zhong et al. 2017), the defaults of every re-ranking entry point
DEFAULT_K1, DEFAULT_K2, DEFAULT_LAMBDA = 20, 6, 0.3
DEFAULT_MAX_MEMORY_BYTES = 256 * 2**20
# the least budget: one row of work over all N items (step 5's arrays for one query row,
# step 2's product for one row at worst)
MIN_BYTES_PER_ITEM = 128
# step 1: bytes per distance of a tile, top-k's temporaries included
TILE_BYTES = 16
# step 2: bytes per non-zero of the (rows, N) products (index, value, scipy's temporaries)
OVERLAP_BYTES = 32
# step 3: rows whose distances to their R* are computed as one block (to the union of
# their R*, so a larger chunk means more distances computed in vain)
ENCODING_ROWS = 32
# step 5: bytes per (query, gallery item) of a chunk (its distances, overlaps, Jaccard
# distances, result and their temporaries), and per (query entry, gallery entry) pair of
# the Jaccard sums; each kind of array takes half of the budget
QUERY_GALLERY_BYTES = 64
JACCARD_PAIR_BYTES = 96


def k_reciprocal_rerank_chunks(query: torch.Tensor,
                               gallery: torch.Tensor,
                               metric: str = 'cosine',
                               k1: int = DEFAULT_K1,
                               k2: int = DEFAULT_K2,
                               lambda_value: float = DEFAULT_LAMBDA,
                               max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
                               tell: Callable[[str], object] | None = None
                               ) -> Iterator[tuple[slice, np.ndarray]]:
    """Re-ranked query × gallery distances of embeddings, by chunks of queries.

    Args:
        query: (Q, D) embeddings.
        gallery: (G, D) embeddings.
        metric: ``'cosine'`` or ``'euclidean'``, as :func:`pairwise_distance`.
        k1: size of the k-reciprocal neighbourhood, 1..Q + G - 1.
        k2: size of the local query expansion, 1..Q + G (1 turns it off).
        lambda_value: weight of the original distance in the result.
        max_memory_bytes: bound on the work arrays of each step (the sparse encodings
            come on top); at least 128 bytes per image.
        tell: where to say (``print``, a logger's ``info``) when the nearest neighbours
            (step 1) and the encodings (steps 2-4) are done, with the time each took:
            the work before the first chunk; :func:`with_progress` tells the chunks.

    Returns:
        An iterator over ``(rows, distances)``: the chunks of queries in order, ``rows`` a
        slice of the queries and ``distances`` their (rows, G) float32 re-ranked
        distances. The arguments are checked at once; the work starts with the first
        chunk.
    """
    distances = EmbeddingDistances(query, gallery, metric)
    check_rerank_options(distances.num_items, k1, k2, max_memory_bytes)
    return _rerank(distances, k1, k2, lambda_value, max_memory_bytes, tell or _silent)


def _silent(message: str) -> None:
    """A ``tell`` that says nothing."""


def k_reciprocal_rerank(query_gallery: np.ndarray,
                        query_query: np.ndarray,
                        gallery_gallery: np.ndarray,
                        k1: int = DEFAULT_K1,
                        k2: int = DEFAULT_K2,
                        lambda_value: float = DEFAULT_LAMBDA,
                        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES) -> np.ndarray:
    """Re-rank a query × gallery distance matrix, given the distances among the queries
    and among the gallery items: :func:`k_reciprocal_rerank_chunks` on distances already
    computed, the chunks put together.

    Args:
        query_gallery: (Q, G) distances.
        query_query: (Q, Q) distances.
        gallery_gallery: (G, G) distances.
        k1, k2, lambda_value, max_memory_bytes: as :func:`k_reciprocal_rerank_chunks`.

    Returns:
        (Q, G) float32 re-ranked distances.
    """
    # the authors' code reads the columns of the joint matrix (it divides each column by
    # its largest value, then transposes), which are these rows; the same for symmetric
    # distances
    distances = MatrixDistances(query_gallery, np.asarray(query_query).T,
                                np.asarray(gallery_gallery).T)
    check_rerank_options(distances.num_items, k1, k2, max_memory_bytes)
    return np.concatenate([chunk for _, chunk in _rerank(distances, k1, k2, lambda_value,
                                                         max_memory_bytes, _silent)])


def check_rerank_options(num_items: int, k1: int, k2: int, max_memory_bytes: int) -> None:
    """ValueError in one sentence unless re-ranking ``num_items`` query and gallery images
    can run with ``k1``, ``k2`` and the budget ``max_memory_bytes`` (for a caller that knows
    the count before it has the embeddings)."""
    if not 1 <= k1 <= num_items - 1:
        raise ValueError(f're-ranking needs 1 <= k1 <= {num_items - 1} (the number of '
                         f'query and gallery images, {num_items}, minus one), got k1={k1}')
    if not 1 <= k2 <= num_items:
        raise ValueError(f're-ranking needs 1 <= k2 <= {num_items} (the number of query '
                         f'and gallery images), got k2={k2}')
    least = MIN_BYTES_PER_ITEM * num_items
    if max_memory_bytes < least:
        raise ValueError(f'a re-ranking memory budget of {max_memory_bytes / 2**20:.3g} MiB '
                         f'cannot hold one row of work over {num_items} images; give at '
                         f'least {least / 2**20:.3g} MiB ({MIN_BYTES_PER_ITEM} bytes per '
                         f'image)')


def _rerank(distances: Distances, k1: int, k2: int, lambda_value: float,
            max_bytes: int, tell: Callable[[str], object]
            ) -> Iterator[tuple[slice, np.ndarray]]:
    """Steps 1 to 5 of the module docstring, telling ``tell`` when steps 1 and 4 end."""
    start = time.perf_counter()
    nearest, largest = _nearest_and_largest(distances, max(k1 + 1, k2), max_bytes)
    tell(f'found the {nearest.shape[1]} nearest of each of {distances.num_items} query and '
         f'gallery images in {time.perf_counter() - start:.0f} s')
    start = time.perf_counter()
    largest_squared = np.square(largest)
    expanded = _expanded_reciprocal_sets(nearest, k1, max_bytes)
    encoding = _encoding(distances, expanded, largest_squared, max_bytes)
    if k2 > 1:
        encoding = _local_query_expansion(encoding, nearest[:, :k2])
    tell(f'encoded the k-reciprocal neighbourhoods ({encoding.nnz} weights) in '
         f'{time.perf_counter() - start:.0f} s')
    yield from _query_chunks(distances, encoding, largest_squared, lambda_value, max_bytes)


def _nearest_and_largest(distances: Distances, k: int,
                         max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) int64 indices of each item's k nearest items, ascending, ties by index, and
    (N, ) float32 each item's largest distance: one pass over the joint distances."""
    num, symmetric = distances.num_items, distances.symmetric
    largest = torch.full((num, ), -float('inf'))

    def block(rows: slice, columns: slice) -> torch.Tensor:
        values = distances.block(rows, columns)
        largest[rows] = torch.maximum(largest[rows], values.amax(dim=1))
        if symmetric:  # the block also stands for its transpose
            largest[columns] = torch.maximum(largest[columns], values.amax(dim=0))
        return values

    # a tile's distances and top-k temporaries take half of the budget, the two tiles'
    # embeddings a quarter
    tile = min(num, math.isqrt(max_bytes // 2 // TILE_BYTES),
               max(1, max_bytes // 8 // max(1, distances.item_bytes)))
    _, nearest = square_topk(block, num, k, tile, symmetric)
    return nearest.numpy(), largest.numpy()


def _reciprocal_neighbours(nearest: np.ndarray) -> sparse.csr_array:
    """R(p, k) of every p as an (N, N) int32 0/1 matrix, from N(p, k) = ``nearest``
    (N, k + 1): q ∈ N(p, k) and p ∈ N(q, k)."""
    num, width = nearest.shape
    members = sparse.csr_array(
        (np.ones(nearest.size, np.int32), (np.repeat(np.arange(num), width), nearest.ravel())),
        shape=(num, num))
    return members.multiply(members.T).tocsr()


def _expanded_reciprocal_sets(nearest: np.ndarray, k1: int,
                              max_bytes: int) -> sparse.csr_array:
    """R*(p, k1) of every p as an (N, N) boolean matrix, by chunks of rows."""
    num = nearest.shape[0]
    half_k = int(np.around(k1 / 2))
    full = _reciprocal_neighbours(nearest[:, :k1 + 1])  # R(p, k1)
    half = _reciprocal_neighbours(nearest[:, :half_k + 1])  # R(q, k1/2)
    half_sizes = np.diff(half.indptr)
    half_transposed = half.T.tocsr()
    product_row = min(num, (k1 + 1) * (half_k + 1))  # non-zeros of a product row, at most
    rows = max(1, max_bytes // (OVERLAP_BYTES * product_row))
    chunks = []
    for start in range(0, num, rows):
        own = full[start:start + rows]
        # |R(p, k1) ∩ R(q, k1/2)| for each q ∈ R(p, k1)
        shared = (own @ half_transposed).multiply(own).tocsr()
        accepted = sparse.csr_array(
            ((shared.data > 2 / 3 * half_sizes[shared.indices]).astype(np.int32),
             shared.indices, shared.indptr), shape=shared.shape)
        chunks.append((own + accepted @ half).astype(bool))
    return sparse.vstack(chunks, format='csr')


def _encoding(distances: Distances, expanded: sparse.csr_array, largest_squared: np.ndarray,
              max_bytes: int) -> sparse.csr_array:
    """V: exp(-d(p, q)) over q ∈ R*(p), each row normalised to sum 1, d the squared
    distance over the largest of p's row. The distances of a chunk of rows p are one block:
    to the union of their R*(p)."""
    num, indptr = expanded.shape[0], expanded.indptr
    members = expanded.indices.astype(np.int64)
    weights = np.empty(members.size)
    # the union of a chunk's members takes about half of the budget
    limit = max(1, max_bytes // 2 // (distances.item_bytes + 8 * ENCODING_ROWS))
    start = 0
    while start < num:
        stop = min(num, start + ENCODING_ROWS,
                   max(start + 1, int(np.searchsorted(indptr, indptr[start] + limit,
                                                      side='right')) - 1))
        pairs = slice(indptr[start], indptr[stop])
        union, column = np.unique(members[pairs], return_inverse=True)
        row = np.repeat(np.arange(stop - start), np.diff(indptr[start:stop + 1]))
        scaled = np.square(distances.block(slice(start, stop), union).numpy()[row, column])
        scaled /= largest_squared[start + row]
        weights[pairs] = np.exp(-scaled.astype(np.float64))
        start = stop
    rows = np.repeat(np.arange(num), np.diff(indptr))
    sums = np.bincount(rows, weights=weights, minlength=num)
    return sparse.csr_array((weights / sums[rows], expanded.indices, indptr),
                            shape=expanded.shape)


def _local_query_expansion(encoding: sparse.csr_array,
                           nearest: np.ndarray) -> sparse.csr_array:
    """V_p ← mean of V_q over the k2 nearest q of p (``nearest``: (N, k2))."""
    num, k2 = nearest.shape
    average = sparse.csr_array(
        (np.full(nearest.size, 1.0 / k2), (np.repeat(np.arange(num), k2), nearest.ravel())),
        shape=(num, num))
    return (average @ encoding).tocsr()


def _query_chunks(distances: Distances, encoding: sparse.csr_array,
                  largest_squared: np.ndarray, lambda_value: float,
                  max_bytes: int) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, (rows, G) final distances) for chunks of queries, in order."""
    num_query, num = distances.num_query, distances.num_items
    gallery = slice(num_query, num)
    gallery_by_column = encoding[gallery].tocsc()
    rows_per_chunk = max(1, max_bytes // 2 // (QUERY_GALLERY_BYTES * (num - num_query)))
    max_pairs = max(1, max_bytes // 2 // JACCARD_PAIR_BYTES)
    for start in range(0, num_query, rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, num_query))
        jaccard = _jaccard(encoding[rows], gallery_by_column, max_pairs)
        original = np.square(distances.block(rows, gallery).numpy())
        original /= largest_squared[rows, None]
        yield rows, (1 - lambda_value) * jaccard + lambda_value * original


def _jaccard(query_encoding: sparse.csr_array, gallery_by_column: sparse.csc_array,
             max_pairs: int) -> np.ndarray:
    """(n, G) float32 Jaccard distances between n query encodings (rows) and the gallery
    encodings (by column).

    Rows of V sum to 1, so Σ max(V_p, V_g) = 2 - Σ min(V_p, V_g); the sum of minima only
    runs over columns where both rows are non-zero, found through the gallery's columns.
    Each (query non-zero, gallery non-zero) pair of a column is one term of a sum; the
    terms are added in groups of about ``max_pairs``.
    """
    num_gallery = gallery_by_column.shape[0]
    query_row = np.repeat(np.arange(query_encoding.shape[0]), np.diff(query_encoding.indptr))
    column, query_value = query_encoding.indices, query_encoding.data
    lengths = np.diff(gallery_by_column.indptr)[column]
    ends = np.cumsum(lengths)
    overlap = np.zeros((query_encoding.shape[0], num_gallery))
    start = 0
    while start < column.size:
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - lengths[start]
                                                  + max_pairs, side='right')))
        group = slice(start, stop)
        group_lengths = lengths[group]
        first = np.repeat(gallery_by_column.indptr[column[group]], group_lengths)
        position = first + np.arange(first.size) - np.repeat(
            np.cumsum(group_lengths) - group_lengths, group_lengths)
        shared = np.minimum(np.repeat(query_value[group], group_lengths),
                            gallery_by_column.data[position])
        first_row, last_row = query_row[start], query_row[stop - 1]
        cell = (np.repeat(query_row[group] - first_row, group_lengths) * num_gallery
                + gallery_by_column.indices[position])
        overlap[first_row:last_row + 1] += np.bincount(
            cell, weights=shared,
            minlength=(last_row + 1 - first_row) * num_gallery).reshape(-1, num_gallery)
        start = stop
    return (1 - overlap / (2 - overlap)).astype(np.float32)


def with_progress(chunks: Iterable[tuple[slice, np.ndarray]], num_query: int,
                  tell: Callable[[str], object], steps: int = 10
                  ) -> Iterator[tuple[slice, np.ndarray]]:
    """The ``(rows, distances)`` chunks of :func:`k_reciprocal_rerank_chunks` as they come,
    telling ``tell`` (``print``, a logger's ``info``) when re-ranking starts, each time
    another 1/``steps`` of the ``num_query`` queries is done (with the time so far), and
    the total time: at MSMT17's size it takes minutes on a CPU. The work before the first
    chunk is told by the chunks' own ``tell`` (:func:`k_reciprocal_rerank_chunks`)."""
    tell(f're-ranking {num_query} queries (k-reciprocal neighbours of every query and '
         f'gallery image first)')
    start, reported = time.perf_counter(), 0
    for rows, distances in chunks:
        yield rows, distances
        step = rows.stop * steps // max(1, num_query)
        if step > reported and rows.stop < num_query:
            reported = step
            tell(f're-ranked {rows.stop} of {num_query} queries in '
                 f'{time.perf_counter() - start:.0f} s')
    tell(f're-ranked {num_query} queries in {time.perf_counter() - start:.0f} s')
