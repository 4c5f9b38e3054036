"""Let ``torch.load(weights_only=True)`` read the checkpoints mmengine's Runner writes.

Since torch 2.6 checkpoints load with ``weights_only=True``: only tensors, containers and
allowlisted types are rebuilt, so a downloaded file cannot run pickled code. mmengine's own
checkpoints also hold its message hub: ``HistoryBuffer`` objects wrapping numpy arrays, which
pickle their statistics methods as ``getattr(HistoryBuffer, 'min')``. Instead of switching
the protection off, exactly those types are allowlisted, and ``builtins.getattr`` is
resolved to :func:`history_buffer_statistic`, which hands out nothing but those methods.
"""
from typing import Callable

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_NUMPY_DTYPES = (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                 np.uint8, np.bool_)
_STATISTICS = ('min', 'max', 'current', 'mean')


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
