"""One training run at a time per work dir.

Two runs started in one work dir (a job submitted twice, a run restarted while the first
still trains) write the same checkpoint files, the same ``last_checkpoint`` and, started in
the same second, the same log folder; mmengine does not notice. :func:`exclusive_work_dir`
holds an advisory lock (``flock``) on ``<work dir>/.train.lock`` while the run trains: the
operating system releases it when the process ends, however it ends (SIGKILL included), so a
stale file never blocks a later run. Where there is no ``flock`` (Windows) or the file
system refuses it (Lustre without ``-o flock``, some NFS mounts) the run trains unlocked,
with a notice. Written here because neither mmengine's Runner nor its hooks lock a work dir.
"""
import os
import os.path as osp
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TextIO

import torch.distributed as dist

from rga_mm.errors import ConfigError
from .distributed import RANK_VARIABLES

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = '.train.lock'


def launcher_rank(launcher: str) -> int:
    """This process's global rank as ``launcher`` (``--launcher``) set it: 0 without one."""
    return int(os.environ.get(RANK_VARIABLES.get(launcher, ''), '0'))


@contextmanager
def exclusive_work_dir(work_dir: str, launcher: str = 'none') -> Iterator[None]:
    """Hold ``work_dir``'s lock within the block (creating the folder); a ``ConfigError``
    naming the process that holds it when another run does. Only the process of global rank
    0 locks (:func:`launcher_rank`): the ranks of one distributed run share its work dir.
    Where the process group already exists (gloo on the CPU), every rank gets rank 0's
    refusal and stops with it, instead of running on into the Runner's first collective
    without rank 0. A work dir the block made is removed again where the run left nothing
    in it but the lock."""
    lock, refusal = None, None
    created = not osp.isdir(work_dir)
    if launcher_rank(launcher) == 0 and fcntl is not None:
        lock, refusal = _take_lock(work_dir)
    refusal = _rank_zeros(refusal)
    if refusal is not None:
        raise ConfigError(refusal)
    try:
        yield
    finally:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
            if created:
                _remove_if_lock_alone(work_dir)


def _remove_if_lock_alone(work_dir: str) -> None:
    """Remove ``work_dir``, made for a run that was stopped before it wrote anything there,
    where it holds nothing but the lock file: a refused run leaves no folder behind."""
    with suppress(OSError):
        if os.listdir(work_dir) == [LOCK_NAME]:
            os.remove(osp.join(work_dir, LOCK_NAME))
            os.rmdir(work_dir)


def _take_lock(work_dir: str) -> tuple[TextIO | None, str | None]:
    """(the locked file, None), (None, why another run holds it) or, on a file system
    without ``flock``, (None, None) after a notice."""
    os.makedirs(work_dir, exist_ok=True)
    lock = open(osp.join(work_dir, LOCK_NAME), 'a+')
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or 'unknown'
        lock.close()
        return None, (f'another training run (process {holder}) is writing to the work dir '
                      f'{work_dir}: two runs there would write the same checkpoints and '
                      f'logs; give this run another --work-dir, or let that one end first')
    except OSError as error:  # ENOLCK, ENOSYS: a file system without flock
        lock.close()
        print(f'the work dir {work_dir} cannot be locked ({error.strerror}): a second run '
              f'started there would not be noticed')
        return None, None
    lock.seek(0)
    lock.truncate()
    lock.write(f'{os.getpid()}\n')
    lock.flush()
    return lock, None


def _rank_zeros(refusal: str | None) -> str | None:
    """Rank 0's ``refusal`` on every rank of an existing process group; ``refusal`` as it
    is without one."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return refusal
    shared = [refusal]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]
