"""The environment rga_mm sets up when it is imported, as OpenMMLab's ``utils/setup_env.py``:
its modules registered (and, on request, ``rga_mm`` as the default registry scope), and the
types of mmengine Runner checkpoints allowed to ``torch.load(weights_only=True)``.

Since torch 2.6 checkpoints load with ``weights_only=True``: only tensors, containers and
allowlisted types are rebuilt, so a downloaded file cannot run pickled code. mmengine's own
checkpoints also hold its message hub: ``HistoryBuffer`` objects wrapping numpy arrays, which
pickle their statistics methods as ``getattr(HistoryBuffer, 'min')``. Instead of switching
the protection off, exactly those types are allowlisted, and ``builtins.getattr`` is
resolved to :func:`history_buffer_statistic`, which hands out nothing but those methods.
"""
import datetime
import warnings
from collections.abc import Callable

import numpy as np
import torch
from mmengine import DefaultScope
from mmengine.logging import HistoryBuffer

_NUMPY_DTYPES = (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                 np.uint8, np.bool_)
_STATISTICS = ('min', 'max', 'current', 'mean')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every rga_mm module that registers something.

    Args:
        init_default_scope: also make ``rga_mm`` the current default scope, so that
            registry look-ups without a scope prefix resolve in rga_mm first.
    """
    import rga_mm.datasets  # noqa: F401
    import rga_mm.engine  # noqa: F401
    import rga_mm.evaluation  # noqa: F401
    import rga_mm.models  # noqa: F401
    import rga_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'rga_mm':
        if current is not None:
            warnings.warn(f'the default scope was {current.scope_name!r}; a new default '
                          f'scope "rga_mm" is created and used from now on')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S.%f')
        DefaultScope.get_instance(f'rga_mm-{stamp}', scope_name='rga_mm')


def history_buffer_statistic(owner: type, name: str) -> Callable:
    """``getattr`` as a checkpoint may use it: only ``HistoryBuffer``'s statistics."""
    if owner is not HistoryBuffer or name not in _STATISTICS:
        raise ValueError(f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only '
                         f'HistoryBuffer statistics {_STATISTICS} are allowed')
    return getattr(owner, name)


RUNNER_CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    (history_buffer_statistic, 'builtins.getattr'),
    np._core.multiarray._reconstruct,
    np._core.multiarray.scalar,
    np.ndarray,
    np.dtype,
    *(type(np.dtype(t)) for t in _NUMPY_DTYPES),
]


def allow_runner_checkpoints() -> None:
    """Add the types of mmengine Runner checkpoints to torch's weights-only allowlist."""
    torch.serialization.add_safe_globals(RUNNER_CHECKPOINT_GLOBALS)
