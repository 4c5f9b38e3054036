"""Verification scores of a re-ID distance matrix: TPR at fixed FPR over query-gallery pairs.

Every (query, gallery) pair is a verification trial, accepted when its distance is at most a
threshold t. A pair is *positive* when both images show the same identity, *negative*
otherwise. Pairs are those the ranking protocol keeps (``rank.py``): a gallery item of the
query's identity **and** camera is not a trial for that query, and junk gallery items
(identity -1) are no trial at all; distractors are negatives. A query without any positive
pair (skipped by the ranking) still gives its negative pairs.

    FPR(t) = |negatives with d <= t| / |negatives|
    TPR(t) = |positives with d <= t| / |positives|

``TPR@FPR=f`` is the TPR at the largest threshold whose FPR is at most f. Since pairs at equal
distance are accepted together, that threshold lies just below the (n + 1)-th smallest
negative distance, n = floor(f · |negatives|): TPR@FPR=f is the share of positives strictly
closer than that negative (all of them when n >= |negatives|). With few pairs a small f gives
n = 0: the threshold lies below every negative, and the TPR is that of the positives closer
than the closest negative, 0 if there is none. (fast-reid's ``evaluate_roc`` instead reads
the ROC point whose FPR is nearest to f, which may lie above it.)

Memory: the distance matrix is read in blocks of query rows; only the positives' distances
and the smallest n_max + 1 negative distances are kept (n_max for the largest f).
"""
import math
from collections.abc import Sequence

import numpy as np

from .rank import JUNK_ID

# elements of the distance matrix handled at once (4 MiB of float32)
MAX_BLOCK_ELEMENTS = 2**20
# f · |negatives| this close below an integer counts as that integer (0.57 · 100 gives
# 56.99999999999999 in floating point)
COUNT_TOLERANCE = 1e-9


def tpr_at_fpr(distmat: np.ndarray,
               query_ids: np.ndarray,
               gallery_ids: np.ndarray,
               query_cams: np.ndarray,
               gallery_cams: np.ndarray,
               fpr_targets: Sequence[float] = (1e-4, 1e-3, 1e-2)) -> dict[float, float]:
    """TPR (in [0, 1]) at each target FPR, over the pairs of the module docstring.

    Args:
        distmat: (Q, G) distances, smaller is more similar.
        query_ids, gallery_ids: (Q,) and (G,) integer identities; -1 marks junk.
        query_cams, gallery_cams: (Q,) and (G,) integer cameras.
        fpr_targets: target false positive rates, each in (0, 1].

    Returns:
        ``{f: TPR@FPR=f}`` for each target f.

    Raises:
        ValueError: on mismatched sizes, a target outside (0, 1], or no positive pair.
    """
    distmat = np.asarray(distmat)
    query_ids, query_cams = np.asarray(query_ids), np.asarray(query_cams)
    accumulator = TprAccumulator(gallery_ids, gallery_cams, query_ids.size, fpr_targets)
    accumulator.add(distmat, query_ids, query_cams)
    return accumulator.result()


class TprAccumulator:
    """:func:`tpr_at_fpr` of a distance matrix given a chunk of query rows at a time, e.g.
    re-ranked distances that are never held whole.

    ``add`` the chunks of the ``num_query`` queries (in any order, each query once), then
    read ``result()``: it equals :func:`tpr_at_fpr` of the whole matrix.
    """

    def __init__(self, gallery_ids: np.ndarray, gallery_cams: np.ndarray, num_query: int,
                 fpr_targets: Sequence[float] = (1e-4, 1e-3, 1e-2)) -> None:
        self.gallery_ids, self.gallery_cams = np.asarray(gallery_ids), np.asarray(gallery_cams)
        if self.gallery_cams.size != self.gallery_ids.size:
            raise ValueError(f'{self.gallery_ids.size} gallery identities do not fit '
                             f'{self.gallery_cams.size} gallery cameras')
        bad = [f for f in fpr_targets if not 0 < f <= 1]
        if bad or not fpr_targets:
            raise ValueError(f'target false positive rates: one or more in (0, 1], got '
                             f'{bad or list(fpr_targets)}')
        self.fpr_targets = tuple(fpr_targets)
        self.real_gallery = self.gallery_ids != JUNK_ID
        self.num_query = num_query
        self.positives: list[np.ndarray] = []
        self.num_negatives = 0
        self.smallest = np.empty(0)
        # at most floor(f_max · pairs) negatives are accepted at the largest target f_max:
        # keep that many + 1 of the smallest negative distances
        self.keep_smallest = _allowed_false_positives(
            max(self.fpr_targets), num_query * self.gallery_ids.size) + 1

    def add(self, distmat: np.ndarray, query_ids: np.ndarray, query_cams: np.ndarray) -> None:
        """Take in the (q, G) distances of q queries, their (q,) identities and cameras."""
        distmat = np.asarray(distmat)
        if not np.issubdtype(distmat.dtype, np.floating):
            distmat = distmat.astype(np.float64)
        query_ids, query_cams = np.asarray(query_ids), np.asarray(query_cams)
        if distmat.ndim != 2 or distmat.shape != (query_ids.size, self.gallery_ids.size) or \
                query_cams.size != query_ids.size:
            raise ValueError(f'distmat of shape {distmat.shape} does not fit '
                             f'{query_ids.size} query and {self.gallery_ids.size} gallery '
                             f'labels')
        if np.isnan(distmat).any():
            raise ValueError('distmat contains NaN values (NaN in the embeddings or '
                             'distances), which no threshold accepts or rejects')
        rows = max(1, MAX_BLOCK_ELEMENTS // max(1, distmat.shape[1]))
        for start in range(0, distmat.shape[0], rows):
            block = distmat[start:start + rows]
            same_id = query_ids[start:start + rows, None] == self.gallery_ids[None]
            same_cam = query_cams[start:start + rows, None] == self.gallery_cams[None]
            self.positives.append(block[same_id & ~same_cam & self.real_gallery])
            negatives = block[~same_id & self.real_gallery]
            self.num_negatives += negatives.size
            self.smallest = _smallest(np.concatenate([self.smallest, negatives]),
                                      self.keep_smallest)

    def result(self) -> dict[float, float]:
        """``{f: TPR@FPR=f}`` over the pairs of all queries added."""
        positives = np.sort(np.concatenate(self.positives or [np.empty(0)]))
        if positives.size == 0:
            raise ValueError('TPR@FPR needs at least one positive pair (a query and a '
                             'gallery image of its identity from another camera); there is '
                             'none')
        smallest = np.sort(self.smallest)
        result = {}
        for target in self.fpr_targets:
            allowed = _allowed_false_positives(target, self.num_negatives)
            if allowed >= self.num_negatives:  # every threshold is allowed: accept all
                result[target] = 1.0
            else:
                first_refused = smallest[allowed]  # the (allowed + 1)-th smallest negative
                accepted = np.searchsorted(positives, first_refused, side='left')
                result[target] = float(accepted / positives.size)
        return result


def _allowed_false_positives(target: float, num_negatives: int) -> int:
    """floor(target · num_negatives), forgiving float error just below an integer."""
    return math.floor(target * num_negatives + COUNT_TOLERANCE)


def _smallest(values: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` smallest values (unordered), or all of them if there are fewer."""
    if values.size <= count:
        return values
    return np.partition(values, count - 1)[:count]
