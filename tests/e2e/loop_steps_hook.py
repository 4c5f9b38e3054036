"""Test instrumentation: a hook that records, in ``STARTED``, the training epochs and test
iterations a run starts. The end-to-end tests call the tools in their own process, so the
test reads the list the hook appends to."""
from mmengine.hooks import Hook

from rga_mm.registry import HOOKS

STARTED: list[str] = []


@HOOKS.register_module()
class RecordLoopStepsHook(Hook):
    """Append 'train epoch' before every training epoch and 'test iteration' before every
    test iteration."""

    def before_train_epoch(self, runner) -> None:
        STARTED.append('train epoch')

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        STARTED.append('test iteration')
