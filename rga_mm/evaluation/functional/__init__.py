"""Pure functions of re-ID evaluation: distances, re-ranking, CMC / mAP / mINP, top-k."""
from .distance import pairwise_distance
from .query_expansion import average_query_expansion
from .rank import RankAccumulator, rank_metrics
from .rerank import (
    check_rerank_options,
    k_reciprocal_rerank,
    k_reciprocal_rerank_chunks,
    with_progress,
)
from .topk import distance_topk, gallery_topk
from .verification import TprAccumulator, tpr_at_fpr

__all__ = [
    'RankAccumulator', 'TprAccumulator', 'average_query_expansion', 'check_rerank_options',
    'distance_topk', 'gallery_topk', 'k_reciprocal_rerank', 'k_reciprocal_rerank_chunks',
    'pairwise_distance', 'rank_metrics', 'tpr_at_fpr', 'with_progress'
]
