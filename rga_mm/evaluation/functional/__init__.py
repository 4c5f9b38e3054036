"""Pure functions of re-ID evaluation: distances, re-ranking, CMC / mAP / mINP."""
from .distance import pairwise_distance
from .rank import rank_metrics
from .rerank import k_reciprocal_rerank

__all__ = ['k_reciprocal_rerank', 'pairwise_distance', 'rank_metrics']
