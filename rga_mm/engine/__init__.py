"""Runner extensions: hooks, and the check before training that the model takes the size of
its validation images."""
from .hooks import (
    AtomicCheckpointHook,
    AttentionVisualizationHook,
    CheckHeadsFitNeckHook,
    CheckValidationSizeHook,
    IterationSeedHook,
    SyncBuffersHook,
)
from .validation_size import check_validation_size

__all__ = ['AtomicCheckpointHook', 'AttentionVisualizationHook', 'CheckHeadsFitNeckHook',
           'CheckValidationSizeHook', 'IterationSeedHook', 'SyncBuffersHook',
           'check_validation_size']
