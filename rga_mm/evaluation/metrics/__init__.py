from .ranked_lists import ReIDRankedLists
from .reid_metric import ReIDMetric

__all__ = ['ReIDMetric', 'ReIDRankedLists']
