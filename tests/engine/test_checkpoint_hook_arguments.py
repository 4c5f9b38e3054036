"""AtomicCheckpointHook refuses, when built, an argument that would fail the first save, and
leaves a Ctrl-C during a save a KeyboardInterrupt."""

import pytest
from mmengine.config import Config
from yapf.yapflib.yapf_api import FormatCode

from rga_mm.engine.hooks import AtomicCheckpointHook
from rga_mm.engine.hooks.atomic_checkpoint_hook import interrupts_kept
from rga_mm.errors import ConfigError
from rga_mm.registry import HOOKS
from real_interrupts import ctrl_c_when_called


def test_a_misspelt_argument_is_refused_when_the_hook_is_built():
    with pytest.raises(ValueError, match=r"no argument 'max_keep_ckpt'.*first save; did "
                                         r"you mean 'max_keep_ckpts'\?"):
        HOOKS.build(dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpt=1))


@pytest.mark.parametrize('options, said', [
    (dict(interval='1'), "interval must be an int, got '1'"),
    (dict(interval=1, max_keep_ckpts=1.0), 'max_keep_ckpts must be an int, got 1.0'),
    (dict(interval=1, by_epoch='False'), "by_epoch must be True or False, got 'False'"),
    (dict(interval=1, save_last=1), 'save_last must be True or False, got 1'),
])
def test_a_value_of_another_type_is_refused_when_the_hook_is_built(options, said):
    """mmengine's hook takes them and fails (or reads 'False' as true) at the first save."""
    with pytest.raises(ConfigError) as refused:
        HOOKS.build(dict(type='AtomicCheckpointHook', **options))
    assert str(refused.value) == f'AtomicCheckpointHook (default_hooks.checkpoint) {said}'


def test_mmengines_arguments_build_the_hook():
    hook = AtomicCheckpointHook(interval=2, max_keep_ckpts=1, save_last=False, save_begin=1)
    assert (hook.interval, hook.max_keep_ckpts, hook.args) == (2, 1, {})
    never = AtomicCheckpointHook()  # mmengine's defaults: never save by interval, keep all
    assert (never.interval, never.max_keep_ckpts) == (-1, -1)


def test_a_ctrl_c_while_the_config_is_formatted_stays_an_interrupt():
    """A Ctrl-C that lands in mmengine's config formatting (part of every checkpoint save):
    a real SIGINT as yapf's FormatCode starts, which mmengine calls under a bare
    ``except``."""
    with pytest.raises(SyntaxError, match='Failed to format the config file'), \
            ctrl_c_when_called(FormatCode.__code__):
        Config(dict(a=1)).pretty_text  # what mmengine makes of it
    with pytest.raises(KeyboardInterrupt), interrupts_kept(), \
            ctrl_c_when_called(FormatCode.__code__):
        Config(dict(a=1)).pretty_text
    with pytest.raises(SyntaxError, match='a real one'), interrupts_kept():
        raise SyntaxError('a real one')
