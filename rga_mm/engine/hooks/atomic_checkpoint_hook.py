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
import inspect
import os
import os.path as osp
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from rga_mm.registry import HOOKS

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
    3. only then are the checkpoints beyond ``max_keep_ckpts`` deleted.

    So the work dir always holds a complete checkpoint and a ``last_checkpoint`` naming
    one, and ``--resume`` continues from the last complete save. A kill between steps 2
    and 3 leaves one old checkpoint too many, never too few. A ``.partial`` file left by
    a kill is no checkpoint: it does not end in ``.pth``, nothing names it, and the next
    save of that step writes over it.

    A rename exists only on a local file system: with a remote ``out_dir`` (a prefix such
    as ``s3://``) or ``file_client_args`` the checkpoint is written in place, as mmengine
    does, but old ones are still deleted after it. Best checkpoints (``save_best``) are
    written by mmengine's code.

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

    def _save_checkpoint_with_step(self, runner: Runner, step: int, meta: dict) -> None:
        outdated = self._keep(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        atomic = isinstance(self.file_backend, LocalBackend)
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
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for outdated_step in outdated:
            self._remove(self.filename_tmpl.format(outdated_step))

    def _keep(self, runner: Runner, step: int) -> list[int]:
        """Record ``step`` among the kept checkpoints (in the message hub, so that the
        checkpoint itself knows), and return the steps that no longer fit."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and
                                        self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return outdated

    def _remove(self, filename: str) -> None:
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
            self.file_backend.rmtree(path)


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
    """Write ``path`` so that a reader sees the old text or all of the new one."""
    with open(path + PARTIAL_SUFFIX, 'w') as partial:
        partial.write(text)
    replace_durably(path + PARTIAL_SUFFIX, path)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no folder descriptors)."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
