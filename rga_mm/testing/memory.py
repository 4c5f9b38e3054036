"""Peak memory of a piece of code: of its PyTorch tensors on any device, CPU included, or of
the whole process.

PyTorch reports peak memory only for CUDA (``torch.cuda.max_memory_allocated``); on the CPU
nothing tracks the allocations of its ops, and process-level RSS is dominated by the
allocator's caching. :class:`TensorMemoryTracker` is a ``TorchDispatchMode`` that sees every
tensor an aten op creates — forward, backward and autograd's saved tensors alike — and keeps
a running total of the bytes of the storages that are still alive, and the peak of that
total. It also records every output shape so that a test can check which tensors were formed.

Code that also allocates outside PyTorch (NumPy, SciPy) is measured by
:func:`process_peak_rise`, the rise of the process's peak resident memory: everything, the
allocators' caches included.
"""
import gc
import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def _aliases_input(func) -> bool:
    """True for view and in-place ops, whose outputs share an existing storage."""
    return any(ret.alias_info is not None for ret in func._schema.returns)


class TensorMemoryTracker(TorchDispatchMode):
    """Track live and peak bytes of the tensors created inside the ``with`` block.

    Memory held before the block (parameters, inputs) is not counted; views keep the
    storage they alias counted for as long as they live.

    Attributes:
        peak_bytes: the largest total of live tensor storages seen.
        largest_bytes: the largest single storage allocated.
        shapes: the shapes of the tensors that ops allocated (views excluded), in order.
    """

    def __init__(self, record_shapes: bool = False) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self.largest_bytes = 0
        self.record_shapes = record_shapes
        self.shapes: list[tuple[int, ...]] = []
        self._references: dict[int, int] = {}
        self._sizes: dict[int, int] = {}

    def _release(self, pointer: int) -> None:
        self._references[pointer] -= 1
        if self._references[pointer] == 0:
            del self._references[pointer]
            self.live_bytes -= self._sizes.pop(pointer)

    def _track(self, tensor: torch.Tensor, is_alias: bool) -> None:
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer in self._references:
            self._references[pointer] += 1
        elif is_alias:  # a view of memory that existed before the block
            return
        else:
            self._references[pointer] = 1
            self._sizes[pointer] = storage.nbytes()
            self.live_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
            self.largest_bytes = max(self.largest_bytes, storage.nbytes())
        weakref.finalize(tensor, self._release, pointer)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        is_alias = _aliases_input(func)
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.device.type != 'meta':
                if self.record_shapes and not is_alias:
                    self.shapes.append(tuple(tensor.shape))
                self._track(tensor, is_alias)
        return out


def process_peak_rise(run: Callable[[], object]) -> int | None:
    """Run ``run()``; return the bytes by which it raised the process's peak resident memory
    above the resident memory before it, or None where the peak cannot be reset (not Linux,
    or not allowed).

    The peak is Linux's ``VmHWM``, reset to the current ``VmRSS`` through
    ``/proc/self/clear_refs`` just before ``run``.
    """
    gc.collect()
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # resets VmHWM to the current VmRSS
        before = _status_kib('VmRSS')
        reset = _status_kib('VmHWM') <= before + 1024
    except OSError:
        reset = False
    run()
    return (_status_kib('VmHWM') - before) * 1024 if reset else None


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(f'{field}:'):
                return int(line.split()[1])
    raise OSError(f'/proc/self/status has no {field}')
