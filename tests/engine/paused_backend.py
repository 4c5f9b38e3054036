"""Test instrumentation: a local file backend that stalls in the middle of a checkpoint.

``PausedLocalBackend`` is mmengine's ``LocalBackend``, except that writing a file whose
name starts with ``$PAUSE_CHECKPOINT`` (e.g. ``epoch_2.pth``) writes the first half of the
bytes to disk, writes the file's path into ``$PAUSE_READY`` and then waits forever, like a
training process on a slow disk at the moment it is killed. Configs select it with
``default_hooks.checkpoint.backend_args=dict(backend='paused_local')``.
"""
import os
import os.path as osp
import time

from mmengine.fileio import LocalBackend, register_backend


@register_backend('paused_local')
class PausedLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath) -> None:
        pause_at = os.environ.get('PAUSE_CHECKPOINT')
        if not pause_at or not osp.basename(str(filepath)).startswith(pause_at):
            return super().put(obj, filepath)
        with open(filepath, 'wb') as file:
            file.write(obj[:len(obj) // 2])
            file.flush()
            os.fsync(file.fileno())
        ready = os.environ['PAUSE_READY']
        with open(ready + '.tmp', 'w') as file:
            file.write(str(filepath))
        os.replace(ready + '.tmp', ready)  # the test sees the file complete or not at all
        while True:
            time.sleep(60)
