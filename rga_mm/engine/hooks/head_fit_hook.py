"""The segmentor check of :func:`rga_mm.models.necks.check_heads_fit_neck` as a hook, so that
runs started by other tools (mmseg's ``tools/train.py`` and ``tools/test.py``, ``mim train
mmseg``) check the model too; rga_mm's own tools check every model they build without it,
and drop it from the runners they build (``build_checked_runner``), so the check runs once.
The Cityscapes configs list it::

    custom_hooks = [dict(type='rga_mm.CheckHeadsFitNeckHook')]
"""
from mmengine.hooks import Hook
from mmengine.runner import Runner

from rga_mm.models.necks import check_heads_fit_neck
from rga_mm.models.unwrap import model_of
from rga_mm.registry import HOOKS


@HOOKS.register_module()
class CheckHeadsFitNeckHook(Hook):
    """Before training, validation or testing starts, raise a ConfigError when a head of the
    runner's segmentor does not take the map its RGA neck gives it (or the neck's
    ``in_index`` names no backbone map); a model without an RGA neck passes."""

    priority = 'VERY_HIGH'

    def before_run(self, runner: Runner) -> None:
        """Check ``runner.model`` (unwrapped from DDP) before its first forward."""
        check_heads_fit_neck(model_of(runner.model))
