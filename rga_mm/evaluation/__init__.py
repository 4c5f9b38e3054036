"""Re-ID evaluation: pure functions (``functional``) and the mmengine metric shell."""
from .functional import (
    k_reciprocal_rerank,
    k_reciprocal_rerank_chunks,
    pairwise_distance,
    rank_metrics,
)
from .metrics import ReIDMetric

__all__ = [
    'ReIDMetric', 'k_reciprocal_rerank', 'k_reciprocal_rerank_chunks', 'pairwise_distance',
    'rank_metrics'
]
