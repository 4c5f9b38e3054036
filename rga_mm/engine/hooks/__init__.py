from .atomic_checkpoint_hook import AtomicCheckpointHook
from .attention_visualization_hook import AttentionVisualizationHook

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook']
