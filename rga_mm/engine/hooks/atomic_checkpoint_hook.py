"""Checkpoints that a kill at any moment cannot take away.

mmengine's ``CheckpointHook`` saves step n by first deleting the checkpoints beyond
``max_keep_ckpts``, then writing the new file in place, then ``last_checkpoint`` in place.
Killed during the write (out of memory, a cluster's time limit, Ctrl-C twice) it leaves a
truncated checkpoint, with ``max_keep_ckpts=1`` no complete one at all, and a
``last_checkpoint`` that names a deleted file, so that ``--resume`` fails.
:class:`AtomicCheckpointHook` reorders and hardens those steps; configs use it through
``default_hooks.checkpoint`` with the same arguments as mmengine's hook::

    default_hooks = dict(
        checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1))
"""
import difflib
import errno
import inspect
import os
import os.path as osp
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from string import Formatter
from typing import Any

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from rga_mm.checks import flag, is_int
from rga_mm.errors import ConfigError
from rga_mm.registry import HOOKS
from .sync_buffers_hook import SyncBuffersHook

PARTIAL_SUFFIX = '.partial'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments and files) whose checkpoints survive a
    kill at any moment.

    Saving step n:

    1. the runner writes the checkpoint to ``<name>.partial`` next to its final name
       (mmengine's ``Runner.save_checkpoint`` and file backend, unchanged), which is
       flushed to disk (fsync) and renamed to ``<name>`` (``os.replace``, atomic);
    2. ``last_checkpoint`` is then written the same way, so it names only complete files;
    3. only then are the checkpoints beyond ``max_keep_ckpts`` deleted: of the files in the
       checkpoint folder named by the hook's ``filename_tmpl`` (``epoch_{}.pth`` or
       ``iter_{}.pth``), the ones of steps before n, except the newest
       ``max_keep_ckpts - 1``. Best checkpoints (``best_<metric>_<name>``) are not named by
       the template, and checkpoints of later steps (a run restarted from an earlier one)
       are left to be overwritten.

    So the work dir always holds a complete checkpoint and a ``last_checkpoint`` naming
    one, and ``--resume`` continues from the last complete save. A kill between steps 2
    and 3 leaves one old checkpoint too many, never too few, and the next save (of a
    resumed run too) deletes it: step 3 goes by the files on disk, not, as mmengine's hook
    does, by a list of kept steps stored in the checkpoint, which in the one resumed from
    no longer names the leftover. A ``.partial`` file left by a kill is no checkpoint: it
    does not end in ``.pth``, nothing names it, and the next save of that step writes over
    it.

    Each checkpoint's ``meta`` also records whether it ends an epoch and the world size
    that trained it (:func:`run_shape`), which ``--resume`` checks.

    A save that fails with an ``OSError`` (a full disk, a file-size limit such as
    ``ulimit -f``, a read-only disk) removes its ``.partial`` file and raises
    :class:`CheckpointWriteError`, whose message names the checkpoint, the reason and what
    to do; for a full disk or a file too large also the size the checkpoint needs and the
    free space there. The previous complete checkpoint and ``last_checkpoint`` are left as
    they were, so ``--resume`` continues from them once the cause is gone. Where only
    ``last_checkpoint`` cannot be written, the error names the new, complete checkpoint to
    resume from.

    A rename exists only on a local file system: with a remote ``out_dir`` (a prefix such
    as ``s3://``) or ``file_client_args`` the checkpoint is written in place, as mmengine
    does, and a failed write raises the backend's own error; old ones are still deleted
    after it. Best checkpoints (``save_best``) are written by mmengine's code.

    An argument mmengine's hook does not know (a typo such as ``max_keep_ckpt``) is refused
    when the hook is built: mmengine passes it on to ``Runner.save_checkpoint``, which takes
    no other argument, so the run would fail at its first save, its epochs lost.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.args:
            known = [name for name in inspect.signature(CheckpointHook.__init__).parameters
                     if name not in ('self', 'kwargs')]
            unknown = sorted(self.args)[0]
            close = difflib.get_close_matches(unknown, known, n=1)
            hint = f'did you mean {close[0]!r}?' if close else f'it takes {", ".join(known)}'
            raise ValueError(f'{type(self).__name__} (default_hooks.checkpoint) has no '
                             f'argument {unknown!r}, and the run would fail at its first '
                             f'save; {hint}')
        self.check_values()

    def check_values(self) -> None:
        """Refuse a count that is no int or a switch that is no bool (a config written by
        hand: ``interval='1'``), which mmengine's hook takes and fails on, or silently reads
        as true, at the first save, the epochs before it lost."""
        name = f'{type(self).__name__} (default_hooks.checkpoint)'
        for count in ('interval', 'max_keep_ckpts', 'save_begin'):
            value = getattr(self, count)
            if not is_int(value):
                raise ConfigError(f'{name} {count} must be an int, got {value!r}')
        for switch in ('by_epoch', 'save_last', 'save_optimizer', 'save_param_scheduler'):
            flag(getattr(self, switch), f'{name} {switch}')

    def _save_checkpoint_with_step(self, runner: Runner, step: int, meta: dict) -> None:
        for hook in runner.hooks:  # every rank: the checkpoint holds the averaged buffers
            if isinstance(hook, SyncBuffersHook):
                hook.sync(runner)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        meta = {**meta, **run_shape(runner, self.by_epoch)}
        atomic = isinstance(self.file_backend, LocalBackend)
        last_checkpoint = osp.join(runner.work_dir, 'last_checkpoint')
        try:
            with interrupts_kept():
                runner.save_checkpoint(
                    self.out_dir,
                    filename + PARTIAL_SUFFIX if atomic else filename,
                    self.file_client_args,
                    save_optimizer=self.save_optimizer,
                    save_param_scheduler=self.save_param_scheduler,
                    meta=meta,
                    by_epoch=self.by_epoch,
                    backend_args=self.backend_args,
                    **self.args)
            # model parallel-like training gathers shards from all ranks; only rank 0 writes
            if not is_main_process():
                return
            if atomic:
                replace_durably(self.last_ckpt + PARTIAL_SUFFIX, self.last_ckpt)
        except OSError as error:
            if not atomic:
                raise
            written = _remove_partial(self.last_ckpt)
            raise CheckpointWriteError(_save_failure_message(
                self.last_ckpt, error, last_checkpoint, written)) from error
        try:
            write_text_atomically(last_checkpoint, self.last_ckpt)
        except OSError as error:
            raise CheckpointWriteError(
                f'Could not write {last_checkpoint}: {error.strerror or error}. The checkpoint '
                f'{self.last_ckpt} is complete, but last_checkpoint still names the one '
                f'before it: remove the cause and resume with --resume {self.last_ckpt}'
            ) from error
        self._remove_outdated(step)

    def _remove_outdated(self, step: int) -> None:
        """Delete the checkpoints of steps before ``step`` but the newest
        ``max_keep_ckpts - 1``, as found in ``out_dir`` by the filename template."""
        if self.max_keep_ckpts <= 0:
            return
        older = sorted(saved for saved in self._saved_steps() if saved < step)
        for outdated in older[:max(len(older) - self.max_keep_ckpts + 1, 0)]:
            self._remove(self.filename_tmpl.format(outdated))

    def _saved_steps(self) -> list[int]:
        """The steps of the files and folders in ``out_dir`` that ``filename_tmpl`` names."""
        pattern = re.compile(''.join(
            re.escape(text) + (r'(\d+)' if field is not None else '')
            for text, field, _, _ in Formatter().parse(self.filename_tmpl)))
        if not pattern.groups:  # a template without a step: every save replaces one file
            return []
        names = self.file_backend.list_dir_or_file(self.out_dir, list_dir=True,
                                                   list_file=True)
        matches = (pattern.fullmatch(name) for name in names)
        return [int(match[1]) for match in matches
                if match and self.filename_tmpl.format(int(match[1])) == match[0]]

    def _remove(self, filename: str) -> None:
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
            self.file_backend.rmtree(path)


def run_shape(runner: Runner, by_epoch: bool) -> dict:
    """What a checkpoint's ``meta`` records beyond mmengine's epoch and iteration, for
    ``tools/train.py --resume`` to check against: ``epoch_end``, whether it is saved at the
    end of an epoch (a by-epoch hook saves nowhere else), which the iteration count cannot
    tell once a resumed run changed the epoch's length (another world size or batch size);
    ``world_size``, the processes that trained it, which the saved config does not name."""
    return dict(epoch_end=by_epoch, world_size=runner.world_size)


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (a full disk, a file-size limit, ...). The
    message names the file, the reason and what to do; the previous complete checkpoint is
    intact. An ``OSError``, so code that catches those keeps working."""


def _remove_partial(path: str) -> int:
    """Remove ``<path>.partial``, left by a save of ``path`` that failed; the bytes it held
    (0 where there is none)."""
    partial = path + PARTIAL_SUFFIX
    written = osp.getsize(partial) if osp.isfile(partial) else 0
    with suppress(FileNotFoundError):
        os.remove(partial)
    return written


def _save_failure_message(path: str, error: OSError, last_checkpoint: str,
                          written: int) -> str:
    """Why the save of ``path`` failed with ``error`` after ``written`` bytes, and how the
    run goes on, from the work dir's ``last_checkpoint``."""
    previous = None
    if osp.isfile(last_checkpoint):
        with open(last_checkpoint) as file:
            previous = file.read().strip()
    if previous and not osp.isfile(previous):
        previous = None

    message = f'Could not write the checkpoint {path}: {error.strerror or error}.'
    if error.errno in (errno.ENOSPC, errno.EFBIG):
        needed = (f'about {_size(osp.getsize(previous))} (the size of '
                  f'{osp.basename(previous)})' if previous else
                  f'more than {_size(written)} (what was written before the failure)')
        free = _size(shutil.disk_usage(osp.dirname(path)).free)
        limit = _file_size_limit()
        if error.errno == errno.ENOSPC:
            message += f' It needs {needed}, and {free} are free on that disk' + (
                ', which must hold it next to the previous checkpoint until it is complete.'
                if previous else '.')
            fix = 'free space on that disk'
        elif limit is not None:
            message += (f' It needs {needed}, more than the size limit of a file this '
                        f'process writes ({_size(limit)}, ulimit -f); {free} are free on '
                        'that disk.')
            fix = 'raise the limit (ulimit -f unlimited)'
        else:
            message += (f' It needs {needed}, more than the file system of that disk takes '
                        f'in one file; {free} are free on it.')
            fix = 'save checkpoints on another disk (default_hooks.checkpoint.out_dir)'
    else:
        fix = 'remove the cause'
    if previous:
        return message + (f' The previous complete checkpoint {previous} and '
                          f'last_checkpoint are intact: {fix} and run again with --resume '
                          'to continue from it.')
    return message + f' This run has no complete checkpoint yet: {fix} and start it again.'


def _size(num_bytes: int) -> str:
    return (f'{num_bytes / 2**30:.1f} GiB' if num_bytes >= 2**30 else
            f'{num_bytes / 2**20:.1f} MiB')


def _file_size_limit() -> int | None:
    """The largest file this process may write (``ulimit -f``), None without a limit."""
    try:
        import resource
    except ImportError:  # Windows has no such limit
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


@contextmanager
def interrupts_kept() -> Iterator[None]:
    """Let a Ctrl-C inside the block stay a KeyboardInterrupt.

    ``Runner.save_checkpoint`` formats the config for the checkpoint's meta inside
    mmengine's bare ``except``, which turns a Ctrl-C landing there into
    ``SyntaxError('Failed to format the config file ...')`` followed by the whole config;
    such an error is raised again as the interrupt it was.
    """
    try:
        yield
    except SyntaxError as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise


def replace_durably(source: str, target: str) -> None:
    """Flush ``source`` to disk, rename it to ``target`` and flush the rename."""
    descriptor = os.open(source, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(source, target)
    _fsync_folder(osp.dirname(osp.abspath(target)))


def write_text_atomically(path: str, text: str) -> None:
    """Write ``path`` so that a reader sees the old text or all of the new one; a write that
    fails leaves no ``<path>.partial``."""
    try:
        with open(path + PARTIAL_SUFFIX, 'w') as partial:
            partial.write(text)
        replace_durably(path + PARTIAL_SUFFIX, path)
    except OSError:
        with suppress(FileNotFoundError):
            os.remove(path + PARTIAL_SUFFIX)
        raise


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no folder descriptors)."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
