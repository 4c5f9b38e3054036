"""A real Ctrl-C at a chosen moment: SIGINT raised as a given function starts. Shared by the
checkpoint hook tests (importable from this folder, which pytest puts on ``sys.path``)."""
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType


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
