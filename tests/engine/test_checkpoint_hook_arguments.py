"""AtomicCheckpointHook refuses, when built, an argument that would fail the first save."""
import pytest

from rga_mm.engine.hooks import AtomicCheckpointHook
from rga_mm.registry import HOOKS


def test_a_misspelt_argument_is_refused_when_the_hook_is_built():
    with pytest.raises(ValueError, match=r"no argument 'max_keep_ckpt'.*first save; did "
                                         r"you mean 'max_keep_ckpts'\?"):
        HOOKS.build(dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpt=1))


def test_mmengines_arguments_build_the_hook():
    hook = AtomicCheckpointHook(interval=2, max_keep_ckpts=1, save_last=False, save_begin=1)
    assert (hook.interval, hook.max_keep_ckpts, hook.args) == (2, 1, {})
