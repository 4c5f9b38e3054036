"""Output files written whole or not at all: the ranked-list PNGs, results.json and gallery
cache of tools/search.py and the ONNX file of tools/deployment/pytorch2onnx.py.

Each is written to ``<name>.partial`` beside its final name (the gallery cache, which
several searches may share, to one such file per process), flushed to disk and renamed into
place, so that a write that fails (a full disk, a file-size limit, no write permission) or is
interrupted leaves neither a truncated file nor the temporary one, and an earlier file of that
name as it was. A process killed while it writes leaves its temporary file, which the next
write of that file replaces (or removes, for the cache).
"""
import contextlib
import errno
import os
from collections.abc import Iterator

import torch

from rga_mm.engine.hooks.atomic_checkpoint_hook import PARTIAL_SUFFIX, replace_durably
from rga_mm.errors import error_chain, first_line


@contextlib.contextmanager
def replaced_when_written(path: str | os.PathLike,
                          partial: str | None = None) -> Iterator[str]:
    """The temporary path ``partial`` (default ``<path>.partial``) for the block to write
    ``path``'s content to; renamed to ``path`` when the block ends, removed when it raises
    (Ctrl-C too)."""
    partial = partial or os.fspath(path) + PARTIAL_SUFFIX
    try:
        yield partial
        replace_durably(partial, os.fspath(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
        raise


def write_bytes_whole(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` as the file ``path`` (:func:`replaced_when_written`).

    Raises:
        OSError: the write failed; ``path`` is as it was before.
    """
    with replaced_when_written(path) as partial, open(partial, 'wb') as file:
        file.write(data)


def torch_save_whole(obj: object, path: str | os.PathLike, partial: str | None = None) -> None:
    """``torch.save(obj)`` as the file ``path`` (:func:`replaced_when_written`, ``partial``
    its temporary file), through a Python file object, so that a failed write raises the
    OS's reason (``torch.save`` given a path writes from C++ and reports only its own).

    Raises:
        OSError, RuntimeError: the write failed (torch.save's RuntimeError is raised from the
            OSError); ``path`` is as it was before.
    """
    with replaced_when_written(path, partial) as staged, open(staged, 'wb') as file:
        torch.save(obj, file)


def write_error_reason(error: BaseException) -> str:
    """Why a write failed, as the OS says it ('No space left on device', 'File too large',
    'Permission denied'): the ``strerror`` of ``error`` or of the ``OSError`` it was raised
    from or while handling (``torch.save`` reports a failed write as a ``RuntimeError``
    raised during the ``OSError``); else the first line of ``error``'s message."""
    for cause in error_chain(error):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return first_line(error)


# failures of a write that more room fixes, and those that another place fixes
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
NOT_ALLOWED = (errno.EACCES, errno.EPERM, errno.EROFS)


def write_error_fix(error: BaseException, elsewhere: str) -> str:
    """What to do about a failed write, as the OS's reason (:func:`write_error_reason`)
    calls for: room for a full disk or a file-size limit, ``elsewhere`` (e.g. 'give another
    --out') for a place the process may not write to or a path too long for the file
    system, the missing folder for a path whose folder does not exist
    (:func:`missing_folder_fix`), and ``elsewhere`` alone for any other reason."""
    codes = {cause.errno for cause in error_chain(error) if isinstance(cause, OSError)}
    if codes & set(NOT_ALLOWED):
        return f'{elsewhere}, one this process may write to'
    if errno.ENAMETOOLONG in codes:
        return f'{elsewhere}, with a shorter path'
    if codes & set(NO_ROOM):
        return 'free space on that disk or raise the file-size limit (ulimit -f)'
    if errno.ENOENT in codes:
        return missing_folder_fix(error, elsewhere)
    return elsewhere


def missing_folder_fix(error: BaseException, elsewhere: str) -> str:
    """The fix for a write that failed as 'No such file or directory': create the folder of
    the file it wrote when that folder is gone, else (a folder that takes no new files, such
    as /proc's) ``elsewhere`` in another folder."""
    names = [cause.filename for cause in error_chain(error)
             if isinstance(cause, OSError) and cause.errno == errno.ENOENT
             and isinstance(cause.filename, (str, bytes))]
    if not names:
        return f'{elsewhere}, in a folder that exists and takes new files'
    folder = os.path.dirname(os.fsdecode(names[0])) or os.curdir
    if not os.path.isdir(folder):
        return f'create the folder {folder} or {elsewhere}'
    return f'{elsewhere}, in a folder that takes new files ({folder} does not)'


def write_failure(path: str | os.PathLike, error: BaseException, elsewhere: str) -> str:
    """The sentence for a write of ``path`` through :func:`replaced_when_written` that failed
    with ``error``: the OS's reason, that an earlier file of that name is as it was (where
    there is one), and the fix (:func:`write_error_fix`, ``elsewhere`` e.g. 'give another
    --out')."""
    earlier = ', the earlier file left as it was' if os.path.exists(path) else ''
    return (f'could not write {path} ({write_error_reason(error)}){earlier}: '
            f'{write_error_fix(error, elsewhere)}')
