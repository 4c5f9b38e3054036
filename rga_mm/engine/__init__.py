"""Runner extensions: hooks."""
from .hooks import AtomicCheckpointHook, AttentionVisualizationHook

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook']
