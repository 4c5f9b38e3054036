"""The re-ID rank metrics written plainly: the reference that the evaluation's
``rank_metrics`` is tested against (tests/evaluation/test_rank_metrics.py) and timed against
(tools/analysis_tools/benchmark_metric.py).

The protocol is that of docs/reid.md ("Evaluation protocol"): each query's gallery in
ascending distance, ties to the earlier gallery item (a stable sort); junk images (identity
-1) and images of the query's identity taken by the query's camera leave the list; a query
with no match left is skipped. With the 1-based ranks r_1 < … < r_n of its n matches:
CMC@k = [r_1 ≤ k], AP = mean_i i / r_i, INP = n / r_n, each averaged over the queries kept.
"""
import numpy as np


def plain_rank_metrics(distmat: np.ndarray, query_ids: np.ndarray, gallery_ids: np.ndarray,
                       query_cams: np.ndarray, gallery_cams: np.ndarray,
                       max_rank: int = 50) -> dict:
    """CMC, mAP and mINP by one full argsort and a loop over the queries.

    Args:
        distmat: (Q, G) distances.
        query_ids, query_cams: (Q, ) identities and cameras of the queries.
        gallery_ids, gallery_cams: (G, ) identities and cameras of the gallery.
        max_rank: length of the CMC curve.

    Returns:
        ``dict(cmc=(max_rank, ) array, mAP=float, mINP=float, num_valid_queries=int,
        num_skipped_queries=int)``, scores as fractions, like ``rank_metrics``.
    """
    distmat = np.asarray(distmat)
    query_ids, query_cams = np.asarray(query_ids), np.asarray(query_cams)
    gallery_ids, gallery_cams = np.asarray(gallery_ids), np.asarray(gallery_cams)
    order = np.argsort(distmat, axis=1, kind='stable')  # (Q, G)
    cmcs, aps, inps = [], [], []
    for q in range(distmat.shape[0]):
        ids, cams = gallery_ids[order[q]], gallery_cams[order[q]]
        keep = (ids != -1) & ~((ids == query_ids[q]) & (cams == query_cams[q]))
        match_ranks = np.flatnonzero(ids[keep] == query_ids[q]) + 1
        if match_ranks.size == 0:
            continue
        cmcs.append(np.arange(1, max_rank + 1) >= match_ranks[0])
        aps.append(np.mean(np.arange(1, match_ranks.size + 1) / match_ranks))
        inps.append(match_ranks.size / match_ranks[-1])
    if not aps:
        raise ValueError(f'none of the {distmat.shape[0]} queries has a match in the gallery')
    return dict(cmc=np.mean(cmcs, axis=0), mAP=float(np.mean(aps)), mINP=float(np.mean(inps)),
                num_valid_queries=len(aps), num_skipped_queries=distmat.shape[0] - len(aps))
