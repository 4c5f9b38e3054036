"""Pure functions of re-ID evaluation: distances, re-ranking, CMC / mAP / mINP, top-k."""
from .distance import pairwise_distance
from .query_expansion import average_query_expansion
from .rank import rank_metrics
from .rerank import k_reciprocal_rerank
from .topk import distance_topk, gallery_topk
from .verification import tpr_at_fpr

__all__ = [
    'average_query_expansion', 'distance_topk', 'gallery_topk', 'k_reciprocal_rerank',
    'pairwise_distance', 'rank_metrics', 'tpr_at_fpr'
]
