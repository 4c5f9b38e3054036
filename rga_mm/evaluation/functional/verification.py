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
from typing import Dict, Sequence

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
               fpr_targets: Sequence[float] = (1e-4, 1e-3, 1e-2)) -> Dict[float, float]:
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
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float64)
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
    if distmat.ndim != 2 or distmat.shape != (query_ids.size, gallery_ids.size) or \
            query_cams.size != query_ids.size or gallery_cams.size != gallery_ids.size:
        raise ValueError(f'distmat of shape {distmat.shape} does not fit {query_ids.size} '
                         f'query and {gallery_ids.size} gallery labels')
    bad = [f for f in fpr_targets if not 0 < f <= 1]
    if bad:
        raise ValueError(f'target false positive rates must be in (0, 1], got {bad}')

    real_gallery = gallery_ids != JUNK_ID
    positives, num_negatives, smallest = [], 0, np.empty(0, distmat.dtype)
    # at most floor(f_max · pairs) negatives are accepted at the largest target f_max: keep
    # that many + 1 of the smallest negative distances
    keep_smallest = _allowed_false_positives(max(fpr_targets), distmat.size) + 1
    rows = max(1, MAX_BLOCK_ELEMENTS // max(1, distmat.shape[1]))
    for start in range(0, distmat.shape[0], rows):
        block = distmat[start:start + rows]
        same_id = query_ids[start:start + rows, None] == gallery_ids[None]
        same_cam = query_cams[start:start + rows, None] == gallery_cams[None]
        positives.append(block[same_id & ~same_cam & real_gallery])
        negatives = block[~same_id & real_gallery]
        num_negatives += negatives.size
        smallest = _smallest(np.concatenate([smallest, negatives]), keep_smallest)
    positives = np.sort(np.concatenate(positives))
    if positives.size == 0:
        raise ValueError('TPR@FPR needs at least one positive pair (a query and a gallery '
                         'image of its identity from another camera); there is none')
    smallest = np.sort(smallest)

    result = {}
    for target in fpr_targets:
        allowed = _allowed_false_positives(target, num_negatives)
        if allowed >= num_negatives:  # every threshold is allowed: accept every pair
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
