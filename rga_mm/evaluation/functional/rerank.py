"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), on distance matrices.

Symbols → names: N(p, k) = ``neighbours`` (the k nearest, p itself included), R(p, k) the
k-reciprocal neighbours (q ∈ N(p, k) and p ∈ N(q, k)), R*(p, k) = ``expanded`` (R(p, k) plus
R(q, k/2) of each q ∈ R(p, k) that shares more than 2/3 of its members with R(p, k)),
V_p = ``encoding`` (weights exp(-d(p, q)) on R*(p, k), normalised to sum 1), local query
expansion over the k2 nearest, Jaccard distance
d_J(p, g) = 1 - Σ min(V_p, V_g) / Σ max(V_p, V_g), and the final distance
(1 - λ) d_J + λ d. As in the authors' released code, the input distances are squared and each
row is divided by its maximum first.

Everything is vectorised over chunks of rows; V is a scipy sparse matrix, so memory is the
dense (Q + G)² float32 distance matrix plus O((Q + G) · |R*|) (Market-1501: about 1.5 GB).
"""
from typing import Tuple

import numpy as np
from scipy import sparse

ROW_CHUNK = 1024


def k_reciprocal_rerank(query_gallery: np.ndarray,
                        query_query: np.ndarray,
                        gallery_gallery: np.ndarray,
                        k1: int = 20,
                        k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
    """Re-rank a query × gallery distance matrix.

    Args:
        query_gallery: (Q, G) distances.
        query_query: (Q, Q) distances.
        gallery_gallery: (G, G) distances.
        k1: size of the k-reciprocal neighbourhood.
        k2: size of the local query expansion (1 turns it off).
        lambda_value: weight of the original distance in the result.

    Returns:
        (Q, G) float32 re-ranked distances.
    """
    num_query = query_gallery.shape[0]
    dist = np.block([[query_query, query_gallery],
                     [query_gallery.T, gallery_gallery]]).astype(np.float32, copy=False)
    dist **= 2
    dist /= dist.max(axis=0)
    dist = dist.T  # a view: row p holds the distances to p, over their largest value

    neighbours = _nearest(dist, max(k1 + 1, k2))
    expanded = _expanded_reciprocal_sets(neighbours, k1)
    encoding = _encoding(dist, expanded)
    if k2 > 1:
        encoding = _local_query_expansion(encoding, neighbours[:, :k2])
    jaccard = _jaccard_to_gallery(encoding, num_query)
    return (1 - lambda_value) * jaccard + lambda_value * dist[:num_query, num_query:]


def _nearest(dist: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of each row's k smallest distances, ascending, ties by index.

    Which of several items tied at the k-th distance is kept is not specified.
    """
    num = dist.shape[0]
    k = min(k, num)
    result = np.empty((num, k), np.int64)
    for start in range(0, num, ROW_CHUNK):
        rows = np.ascontiguousarray(dist[start:start + ROW_CHUNK])
        if k < num:
            index = np.argpartition(rows, k - 1, axis=1)[:, :k]
        else:
            index = np.broadcast_to(np.arange(num), rows.shape)
        values = np.take_along_axis(rows, index, axis=1)
        order = np.lexsort((index, values), axis=1)
        result[start:start + ROW_CHUNK] = np.take_along_axis(index, order, axis=1)
    return result


def _reciprocal(neighbours: np.ndarray) -> np.ndarray:
    """(N, k) bool: whether row p is itself among the k nearest of ``neighbours[p, j]``."""
    result = np.empty(neighbours.shape, bool)
    for start in range(0, neighbours.shape[0], ROW_CHUNK):
        part = neighbours[start:start + ROW_CHUNK]
        rows = np.arange(start, start + part.shape[0])
        result[start:start + ROW_CHUNK] = (neighbours[part] == rows[:, None, None]).any(-1)
    return result


def _expanded_reciprocal_sets(neighbours: np.ndarray, k1: int) -> sparse.csr_matrix:
    """R*(p, k1) of every p as an (N, N) boolean sparse matrix."""
    num = neighbours.shape[0]
    full = neighbours[:, :k1 + 1]
    half = neighbours[:, :int(np.around(k1 / 2)) + 1]
    members = np.where(_reciprocal(full), full, -1)  # R(p, k1), padded with -1
    half_members = np.where(_reciprocal(half), half, -2)  # R(q, k1/2), padded with -2
    half_sizes = (half_members >= 0).sum(axis=1)

    rows, cols = [np.repeat(np.arange(num), members.shape[1])], [members.ravel()]
    for start in range(0, num, ROW_CHUNK):
        own = members[start:start + ROW_CHUNK]  # (n, k)
        candidate_sets = half_members[own]  # (n, k, h); rows of the -1 pad are ignored
        shared = (candidate_sets[..., None] == own[:, None, None, :]).any(-1).sum(-1)
        accepted = (own >= 0) & (shared > 2 / 3 * half_sizes[own])
        row, which = np.nonzero(accepted)
        rows.append(np.repeat(row + start, candidate_sets.shape[2]))
        cols.append(candidate_sets[row, which].ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    keep = cols >= 0
    flags = sparse.coo_matrix((np.ones(keep.sum(), bool), (rows[keep], cols[keep])),
                              shape=(num, num)).tocsr()
    flags.sum_duplicates()
    return flags


def _encoding(dist: np.ndarray, expanded: sparse.csr_matrix) -> sparse.csr_matrix:
    """V: exp(-d(p, q)) over q ∈ R*(p), each row normalised to sum 1."""
    rows = np.repeat(np.arange(expanded.shape[0]), np.diff(expanded.indptr))
    weights = np.exp(-dist[rows, expanded.indices].astype(np.float64))
    sums = np.bincount(rows, weights=weights, minlength=expanded.shape[0])
    return sparse.csr_matrix((weights / sums[rows], expanded.indices, expanded.indptr),
                             shape=expanded.shape)


def _local_query_expansion(encoding: sparse.csr_matrix,
                           neighbours: np.ndarray) -> sparse.csr_matrix:
    """V_p ← mean of V_q over the k2 nearest q of p."""
    num, k2 = neighbours.shape
    average = sparse.csr_matrix(
        (np.full(num * k2, 1.0 / k2), (np.repeat(np.arange(num), k2), neighbours.ravel())),
        shape=(num, num))
    return (average @ encoding).tocsr()


def _jaccard_to_gallery(encoding: sparse.csr_matrix, num_query: int) -> np.ndarray:
    """(Q, G) Jaccard distance between the encodings of queries and gallery items.

    Rows of V sum to 1, so Σ max(V_p, V_g) = 2 - Σ min(V_p, V_g); the sum of minima only
    runs over columns where both rows are non-zero, found through V's columns (CSC).
    """
    num = encoding.shape[0]
    num_gallery = num - num_query
    by_column = encoding[num_query:].tocsc()  # gallery rows only
    jaccard = np.empty((num_query, num_gallery), np.float32)
    for start in range(0, num_query, ROW_CHUNK // 4):
        part = encoding[start:min(start + ROW_CHUNK // 4, num_query)]
        query_row, column, query_value = _coo(part)
        lengths = np.diff(by_column.indptr)[column]
        base = np.repeat(by_column.indptr[column], lengths)
        offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        gallery_row = by_column.indices[base + offset]
        shared = np.minimum(np.repeat(query_value, lengths), by_column.data[base + offset])
        overlap = np.bincount(np.repeat(query_row, lengths) * num_gallery + gallery_row,
                              weights=shared, minlength=part.shape[0] * num_gallery)
        overlap = overlap.reshape(part.shape[0], num_gallery)
        jaccard[start:start + part.shape[0]] = 1 - overlap / (2 - overlap)
    return jaccard


def _coo(matrix: sparse.csr_matrix) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return rows, matrix.indices, matrix.data
