from .attention_visualization_hook import AttentionVisualizationHook

__all__ = ['AttentionVisualizationHook']
