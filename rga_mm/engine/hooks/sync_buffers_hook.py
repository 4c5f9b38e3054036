"""mmengine's ``SyncBuffersHook``, which also averages the buffers before a checkpoint.

mmengine's hook averages the model's buffers (BatchNorm running statistics) over the ranks
at the end of each training epoch and, in an iteration-based loop, before each validation.
There, mmengine's ``CheckpointHook`` saves at ``after_train_iter``, before the validation of
the same iteration: ``iter_N.pth`` held rank 0's own statistics, not those of the model
validated at N, and a run resumed from it continued from other statistics than the
uninterrupted run (which went on with the averaged ones), so the two ended apart. This hook
tracks whether the buffers have changed since they were last averaged and averages them
once, at whichever comes first: the end of an epoch, a checkpoint
(:class:`~rga_mm.engine.hooks.AtomicCheckpointHook` asks it) or a validation. The configs
list it as ``default_hooks.sync_buffers=dict(type='rga_mm.SyncBuffersHook')``.
"""
from mmengine.dist import all_reduce_params
from mmengine.hooks import SyncBuffersHook as MMEngineSyncBuffersHook
from mmengine.runner import Runner

from rga_mm.registry import HOOKS


@HOOKS.register_module()
class SyncBuffersHook(MMEngineSyncBuffersHook):
    """Average the model's buffers over the ranks (distributed runs only) once after
    training has changed them, before the end of an epoch, a checkpoint or a validation
    reads them, whichever comes first (:meth:`sync`)."""

    def __init__(self) -> None:
        super().__init__()
        self.stale = False  # the buffers may differ between the ranks

    def before_train_iter(self, runner: Runner, batch_idx: int,
                          data_batch: dict | tuple | list | None = None) -> None:
        self.stale = True

    def sync(self, runner: Runner) -> None:
        """Average the buffers if training changed them since they were last averaged."""
        if self.distributed and self.stale:
            all_reduce_params(runner.model.buffers(), op='mean')
        self.stale = False

    def after_train_epoch(self, runner: Runner) -> None:
        self.sync(runner)

    def before_val_epoch(self, runner: Runner) -> None:
        self.sync(runner)
