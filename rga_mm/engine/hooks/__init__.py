from .atomic_checkpoint_hook import AtomicCheckpointHook, CheckpointWriteError
from .attention_visualization_hook import AttentionVisualizationHook
from .head_fit_hook import CheckHeadsFitNeckHook

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook', 'CheckHeadsFitNeckHook',
           'CheckpointWriteError']
