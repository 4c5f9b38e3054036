"""Runner extensions: hooks."""
from .hooks import AttentionVisualizationHook

__all__ = ['AttentionVisualizationHook']
