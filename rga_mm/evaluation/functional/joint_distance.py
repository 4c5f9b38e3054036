"""Distances among the query and gallery items taken together, as re-ranking reads them.

k-reciprocal re-ranking (``rerank.py``) treats the Q queries and G gallery items as one set
of Q + G items, queries first: item Q + j is gallery item j. It never holds their
(Q + G)² distance matrix; it asks for blocks of it. :class:`EmbeddingDistances` computes
them from the embeddings by the formulas of the evaluation's :func:`pairwise_distance` (the
Euclidean one by the same :func:`euclidean_from_dots`), from dot products and norms computed
once (so that no normalised copy of the gallery is made for every block: the results differ
from :func:`pairwise_distance`'s in the last bits only);
:class:`MatrixDistances` reads them from the query-gallery, query-query and gallery-gallery
matrices, already computed. Both have ``block(rows, columns)``: the (n, m) float32
distances of the n items of the range ``rows`` to the m items ``columns``, a range or a
sorted array of item numbers.
"""

import numpy as np
import torch

from .distance import check_distance, euclidean_from_dots

Items = slice | np.ndarray
# embedding rows checked for NaN / inf, and whose norms are computed, at once
CHECK_ROWS = 4096
# F.normalize's: a norm below it counts as it
NORM_EPS = 1e-12


class EmbeddingDistances:
    """The joint distances of (Q, D) query and (G, D) gallery embeddings: the cosine
    distance 1 - x·y / (‖x‖ ‖y‖) or the Euclidean √(‖x‖² + ‖y‖² - 2 x·y).

    Attributes:
        num_query: Q.
        num_items: Q + G.
        item_bytes: bytes an item's embedding takes in a block (a float32 copy).
        symmetric: True: the distance of x to y is that of y to x (up to rounding).
    """

    def __init__(self, query: torch.Tensor, gallery: torch.Tensor, metric: str) -> None:
        if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
            raise ValueError(f're-ranking needs (Q, D) query and (G, D) gallery embeddings '
                             f'of the same dimension D, got shapes {tuple(query.shape)} and '
                             f'{tuple(gallery.shape)}')
        if query.shape[0] == 0 or gallery.shape[0] == 0:
            raise ValueError(f're-ranking needs at least one query and one gallery '
                             f'embedding, got shapes {tuple(query.shape)} and '
                             f'{tuple(gallery.shape)}')
        check_distance(metric)
        self.query, self.gallery, self.metric = query, gallery, metric
        self.num_query = query.shape[0]
        self.num_items = query.shape[0] + gallery.shape[0]
        self.item_bytes = 4 * query.shape[1]
        self.symmetric = True
        # cosine: 1 / ‖x‖; Euclidean: ‖x‖²; NaN and inf are refused on the way
        self.norms = torch.cat([_norms(query, 'query', metric),
                                _norms(gallery, 'gallery', metric)])

    def block(self, rows: slice, columns: Items) -> torch.Tensor:
        """(n, m) float32 distances of the items ``rows`` to the items ``columns``."""
        dots = self._embeddings(rows) @ self._embeddings(columns).T
        row_norms, column_norms = self.norms[rows], self.norms[columns]
        if self.metric == 'cosine':
            return dots.mul_(row_norms[:, None]).mul_(column_norms).neg_().add_(1)
        return euclidean_from_dots(dots, row_norms, column_norms)

    def _embeddings(self, items: Items) -> torch.Tensor:
        """The embeddings of a range or a sorted array of items."""
        parts = []
        for part, is_query in _split(items, self.num_query):
            embeddings = self.query if is_query else self.gallery
            parts.append(embeddings[part] if isinstance(part, slice) else
                         embeddings.index_select(0, torch.from_numpy(part)))
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).float()


class MatrixDistances:
    """The joint distances read from a (Q, G) query-gallery, a (Q, Q) query-query and a
    (G, G) gallery-gallery matrix: the rows of ``[[query_query, query_gallery],
    [query_gallery.T, gallery_gallery]]``, as float32.

    Attributes:
        num_query: Q.
        num_items: Q + G.
        item_bytes: 0 (an item has no data besides its distances).
        symmetric: False: the matrices are read as they are.
    """

    def __init__(self, query_gallery: np.ndarray, query_query: np.ndarray,
                 gallery_gallery: np.ndarray) -> None:
        query_gallery, query_query, gallery_gallery = (
            np.asarray(query_gallery), np.asarray(query_query), np.asarray(gallery_gallery))
        num_query, num_gallery = query_gallery.shape if query_gallery.ndim == 2 else (-1, -1)
        if (min(num_query, num_gallery) < 1 or query_query.shape != (num_query, num_query)
                or gallery_gallery.shape != (num_gallery, num_gallery)):
            raise ValueError(f'expected (Q, G), (Q, Q) and (G, G) distance matrices with '
                             f'Q, G >= 1, got shapes {query_gallery.shape}, '
                             f'{query_query.shape} and {gallery_gallery.shape}')
        for name, matrix in (('query-gallery', query_gallery), ('query-query', query_query),
                             ('gallery-gallery', gallery_gallery)):
            if not np.isfinite(matrix).all():
                raise ValueError(f'the {name} distances contain NaN or inf; re-ranking needs '
                                 f'finite distances')
        # quadrants[row is a query][column is a query]
        self.quadrants = ((gallery_gallery, query_gallery.T), (query_gallery, query_query))
        self.num_query = num_query
        self.num_items = num_query + num_gallery
        self.item_bytes = 0
        self.symmetric = False

    def block(self, rows: slice, columns: Items) -> torch.Tensor:
        """(n, m) float32 distances of the items ``rows`` to the items ``columns``."""
        return torch.from_numpy(np.concatenate([
            np.concatenate([
                self.quadrants[row_is_query][column_is_query][row_part][:, column_part]
                for column_part, column_is_query in _split(columns, self.num_query)], axis=1)
            for row_part, row_is_query in _split(rows, self.num_query)]).astype(np.float32))


def _split(items: Items, num_query: int) -> list[tuple[Items, bool]]:
    """A range or a sorted array of items as its query part and its gallery part (each in
    the query or the gallery numbering, with whether it is the query part), empty parts
    left out."""
    if isinstance(items, slice):
        parts = [(slice(items.start, min(items.stop, num_query)), True),
                 (slice(max(items.start, num_query) - num_query, items.stop - num_query),
                  False)]
        return [(part, is_query) for part, is_query in parts if part.stop > part.start]
    first_gallery = np.searchsorted(items, num_query)
    parts = [(items[:first_gallery], True), (items[first_gallery:] - num_query, False)]
    return [(part, is_query) for part, is_query in parts if part.size]


def _norms(embeddings: torch.Tensor, name: str, metric: str) -> torch.Tensor:
    """(n, ) float32 1 / ‖x‖ (cosine) or ‖x‖² (Euclidean) of each row, a few thousand rows
    at a time; NaN and inf, which have no distance, are refused."""
    norms = torch.empty(embeddings.shape[0])
    for start in range(0, embeddings.shape[0], CHECK_ROWS):
        part = embeddings[start:start + CHECK_ROWS].float()
        finite = torch.isfinite(part).all(dim=1)
        if not finite.all():
            row = start + int(torch.nonzero(~finite)[0])
            raise ValueError(f'the {name} embeddings contain NaN or inf (first at row '
                             f'{row}); re-ranking needs finite features')
        if metric == 'cosine':
            norms[start:start + CHECK_ROWS] = 1 / part.norm(dim=1).clamp_(min=NORM_EPS)
        else:
            norms[start:start + CHECK_ROWS] = part.pow(2).sum(dim=1)
    return norms
