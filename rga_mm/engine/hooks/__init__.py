from .atomic_checkpoint_hook import AtomicCheckpointHook, CheckpointWriteError
from .attention_visualization_hook import AttentionVisualizationHook
from .head_fit_hook import CheckHeadsFitNeckHook
from .iteration_seed_hook import IterationSeedHook
from .sync_buffers_hook import SyncBuffersHook
from .validation_size_hook import CheckValidationSizeHook

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook', 'CheckHeadsFitNeckHook',
           'CheckValidationSizeHook', 'CheckpointWriteError', 'IterationSeedHook',
           'SyncBuffersHook']
