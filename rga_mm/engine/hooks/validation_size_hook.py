"""The validation-size check of :func:`rga_mm.engine.validation_size.check_validation_size`
as a hook, so that training started by other tools (mmseg's and mmpretrain's
``tools/train.py``, ``mim train``) stops before its first iteration too, not at its first
validation; rga_mm's ``tools/train.py`` runs the check itself and drops the hook from the
runners it builds (``build_checked_runner``), so the check runs once. A config lists it as::

    custom_hooks = [dict(type='rga_mm.CheckValidationSizeHook')]
"""
from mmengine.hooks import Hook
from mmengine.runner import Runner

from rga_mm.registry import HOOKS
from ..validation_size import check_validation_size


@HOOKS.register_module()
class CheckValidationSizeHook(Hook):
    """Before the first training iteration, raise a ConfigError when the runner's model
    would refuse the size of its first validation image (an attention built for another
    map size); a run without validation passes."""

    priority = 'VERY_HIGH'

    def before_train(self, runner: Runner) -> None:
        """Check the runner's model against the first samples of its loops."""
        check_validation_size(runner)
