"""AtomicCheckpointHook refuses, when built, an argument that would fail the first save, and
leaves a Ctrl-C during a save a KeyboardInterrupt."""
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType

import pytest
from mmengine.config import Config
from yapf.yapflib.yapf_api import FormatCode

from rga_mm.engine.hooks import AtomicCheckpointHook
from rga_mm.engine.hooks.atomic_checkpoint_hook import interrupts_kept
from rga_mm.registry import HOOKS


def test_a_misspelt_argument_is_refused_when_the_hook_is_built():
    with pytest.raises(ValueError, match=r"no argument 'max_keep_ckpt'.*first save; did "
                                         r"you mean 'max_keep_ckpts'\?"):
        HOOKS.build(dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpt=1))


def test_mmengines_arguments_build_the_hook():
    hook = AtomicCheckpointHook(interval=2, max_keep_ckpts=1, save_last=False, save_begin=1)
    assert (hook.interval, hook.max_keep_ckpts, hook.args) == (2, 1, {})


@contextmanager
def ctrl_c_when_called(code: CodeType) -> Iterator[None]:
    """Inside the block, a real SIGINT reaches this process (``signal.raise_signal``) the
    moment a function with ``code`` starts, seen by a profile function (``sys.setprofile``,
    which watches and changes nothing); Python's own handler turns it into the
    KeyboardInterrupt, raised in that function's frame."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = sys.getprofile()

    def watch(frame, event, arg):
        if event == 'call' and frame.f_code is code:
            sys.setprofile(previous)
            signal.raise_signal(signal.SIGINT)

    sys.setprofile(watch)
    try:
        yield
    finally:
        sys.setprofile(previous)


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
