"""Pure functions of re-ID evaluation: distances, re-ranking, CMC / mAP / mINP."""
from .distance import pairwise_distance
from .query_expansion import average_query_expansion
from .rank import rank_metrics
from .rerank import k_reciprocal_rerank
from .verification import tpr_at_fpr

__all__ = [
    'average_query_expansion', 'k_reciprocal_rerank', 'pairwise_distance', 'rank_metrics',
    'tpr_at_fpr'
]
