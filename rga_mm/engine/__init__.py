"""Runner extensions: hooks."""
from .hooks import AtomicCheckpointHook, AttentionVisualizationHook, CheckHeadsFitNeckHook

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook', 'CheckHeadsFitNeckHook']
