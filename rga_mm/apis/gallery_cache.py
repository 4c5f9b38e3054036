"""The gallery embedding cache of tools/search.py: embeddings keyed by each file's path and
:class:`FileStamp` (size, modification and status-change times, inode) and by a hash of the
model that made them, written whole to a temporary file beside the cache and renamed into
place, while a gallery is embedded.

One cache file serves every gallery searched with one model: a write keeps the rows of the
other galleries it holds, less those of files removed or changed since, so that searching
gallery A, then B, then A again embeds A once. A cache made by another model is replaced.

* :func:`model_key`: the hash of what decides the embeddings (merged config, test pipeline,
  loaded weights, flip);
* :class:`GalleryCache`: a cache file as read, with the rows still valid for a file;
* :class:`GalleryRows`: a gallery's embeddings as they are filled in, from the cache first;
* :class:`CacheWriter`: writes them, with the other galleries' rows, every
  ``SAVE_INTERVAL_S`` seconds and when embedding stops, so that a stopped search loses
  nothing it embedded; a write that fails (a full disk, a file-size limit, no write
  permission) is told in one line and the search goes on without the cache.
"""
import contextlib
import glob
import hashlib
import json
import os
import os.path as osp
import socket
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NamedTuple

import torch

from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.engine.hooks.atomic_checkpoint_hook import PARTIAL_SUFFIX
from rga_mm.visualization.image_inputs import config_test_pipeline
from .inferencer import ReIDInferencer
from .output_files import torch_save_whole, write_error_reason

CACHE_FORMAT = 'rga_mm gallery embeddings 2'
# caches of earlier versions, whose rows were keyed by size and modification time alone (a
# file replaced by one of the same size, its modification time restored, kept its row): read
# as holding no row, so that the gallery is embedded again and the cache rewritten
EARLIER_FORMATS = ('rga_mm gallery embeddings 1',)
# while the gallery is embedded its cache is written every SAVE_INTERVAL_S seconds, or less
# often where writing a large cache would take more than SAVE_MAX_SHARE of the time
SAVE_INTERVAL_S = 300
SAVE_MAX_SHARE = 0.1


class GalleryCacheError(ValueError):
    """A ``--cache`` file that exists but is no gallery cache: it is never overwritten."""


def model_key(inferencer: ReIDInferencer, flip: bool) -> str:
    """Hash of what decides the embeddings: the model config (with the top-level data
    preprocessor that init_model merges into it) and the test pipeline of the merged config
    (``--cfg-options`` included), the weights as loaded (so a checkpoint given by URL keys
    the cache too) and flip."""
    digest = hashlib.sha256()
    cfg = inferencer.cfg
    described = dict(model=cfg.model.to_dict(), pipeline=config_test_pipeline(cfg),
                     flip=flip)
    if cfg.get('data_preprocessor') is not None:  # else the key of earlier caches stays
        described['data_preprocessor'] = cfg.data_preprocessor
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    for name, value in sorted(inferencer.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class FileStamp(NamedTuple):
    """What tells that a file changed since its embedding, from its ``os.stat`` result.

    The status-change time (``st_ctime_ns``) is set by the system on every write and cannot
    be set back, so a file replaced by another of the same size whose modification time is
    restored (``cp`` then ``touch -r``, ``rsync -a``, ``tar x``, BMP files of one size)
    changes its stamp; the inode changes where a file is replaced by renaming another onto
    it. A ``chmod`` or a new hard link changes the status-change time too: that file is
    embedded again, needlessly but correctly."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


def file_stamp(stat: os.stat_result) -> FileStamp:
    """The :class:`FileStamp` of a file's ``os.stat`` result; the inode as a signed 64-bit
    integer (a file system may give inodes of up to 2**64 - 1), as the cache stores it."""
    inode = stat.st_ino - 2**64 if stat.st_ino >= 2**63 else stat.st_ino
    return FileStamp(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, inode)


def current_stamp(path: str) -> FileStamp | None:
    """The :func:`file_stamp` of the file ``path`` as it is now; None where it is gone."""
    try:
        return file_stamp(os.stat(path))
    except OSError:
        return None


class CacheRows(NamedTuple):
    """N rows of a cache: the files' paths, their :func:`file_stamp` and their (N, D)
    embeddings."""

    paths: list[str]
    stamps: list[FileStamp]
    features: torch.Tensor

    def followed_by(self, other: 'CacheRows') -> 'CacheRows':
        """These rows, then ``other``'s (these alone, not copied, where it has none)."""
        if not other.paths:
            return self
        return CacheRows(self.paths + other.paths, self.stamps + other.stamps,
                         torch.cat([self.features, other.features]))


NO_ROWS = CacheRows([], [], torch.empty((0, 0)))


class GalleryCache:
    """The embeddings of a cache file made with the model ``key``: ``rows`` maps a path to
    (its :class:`FileStamp`, its row of ``features``); empty when there is no usable cache
    (none, another model's, or one of the :data:`EARLIER_FORMATS`)."""

    def __init__(self, cache: str | None, key: str) -> None:
        self.rows: dict[str, tuple[FileStamp, int]] = {}
        self.paths: list[str] = []
        self.features: torch.Tensor | None = None
        saved = self._load(cache, key)
        if saved is not None:
            self.paths, self.features = list(saved['paths']), saved['features']
            stamps = saved['stamps'].tolist()  # (N, 4): FileStamp's fields
            self.rows = {path: (FileStamp(*stamp), row)
                         for row, (path, stamp) in enumerate(zip(self.paths, stamps))}

    @staticmethod
    def _load(cache: str | None, key: str) -> dict | None:
        if cache is None or not osp.isfile(cache):
            return None
        try:
            saved = torch.load(cache, map_location='cpu', weights_only=True)
            if not isinstance(saved, dict) or saved.get('format') not in (CACHE_FORMAT,
                                                                          *EARLIER_FORMATS):
                raise ValueError('it holds something else')
        except Exception as error:  # another file: never overwritten (caches are renamed
            # into place whole, so no cache of ours is ever found truncated)
            reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ''
            raise GalleryCacheError(
                f'--cache {cache} exists and is no gallery cache of tools/search.py '
                f'({type(error).__name__}: {reason}); search leaves it as it is: give '
                f'another --cache file, or delete this one if it is a cache damaged since '
                f'(search writes its caches whole)') from None
        if saved['format'] != CACHE_FORMAT:
            print(f'cache {cache} was written by an earlier version of tools/search.py, which '
                  f'missed files replaced with their modification time restored; embedding '
                  f'the whole gallery again, and the cache will be rewritten')
            return None
        if saved['model_key'] != key:
            print(f'cache {cache} was made by another model (config, checkpoint or --flip '
                  f'differ); embedding the whole gallery again, and the cache will hold this '
                  f'model\'s embeddings only (one cache per model keeps both)')
            return None
        return saved

    def holds(self, path: str, stamp: FileStamp) -> bool:
        """Whether the cache has ``path``'s embedding for the file as it is now."""
        return path in self.rows and self.rows[path][0] == stamp

    def other_rows(self, paths: Collection[str]) -> CacheRows:
        """The rows of files not among ``paths`` (other galleries') whose file is still as it
        was when embedded: those a write of this gallery's rows keeps. Rows of files removed
        or changed since are dropped."""
        given = set(paths)
        kept = [(path, stamp, row) for path, (stamp, row) in self.rows.items()
                if path not in given and current_stamp(path) == stamp]
        if not kept:
            return NO_ROWS
        kept_paths, stamps, rows = map(list, zip(*kept))
        return CacheRows(kept_paths, stamps, self.features[rows])


def write_cache(cache: str, key: str, paths: list[str], stamps: list[FileStamp],
                features: torch.Tensor) -> None:
    """Write the cache (N paths, their :class:`FileStamp`, stored as an (N, 4) int64
    tensor, and their (N, D) embeddings) to a temporary file in its folder, then rename it
    into place: an interrupted write leaves the previous cache as it was (and the temporary
    files of killed searches are removed, :func:`remove_dead_partials`)."""
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(cache)
    stamp_table = torch.tensor(stamps, dtype=torch.int64).reshape(len(stamps),
                                                                  len(FileStamp._fields))
    # also a second Ctrl-C while writing removes the temporary file
    torch_save_whole(dict(format=CACHE_FORMAT, model_key=key, paths=paths, stamps=stamp_table,
                          features=features.contiguous()),
                     cache, partial_path(cache, os.getpid()))


def partial_path(cache: str, pid: int, host: str | None = None) -> str:
    """The temporary file that process ``pid`` on ``host`` (default: this machine) writes
    ``cache`` to: one per process and machine, so two searches sharing a cache, also on a
    shared disk, never write one file."""
    return f'{cache}.{host or socket.gethostname()}.{pid}{PARTIAL_SUFFIX}'


def remove_dead_partials(cache: str) -> None:
    """Remove the temporary files of ``cache`` written on this machine by a process that no
    longer runs: a search killed (SIGKILL, power loss) while it wrote leaves one as large as
    the cache. Another machine's are left alone, as its processes cannot be seen from here."""
    prefix = f'{cache}.{socket.gethostname()}.'
    for path in glob.glob(f'{glob.escape(prefix)}*{PARTIAL_SUFFIX}'):
        pid = path[len(prefix):-len(PARTIAL_SUFFIX)]
        if pid.isdigit() and not process_runs(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def process_runs(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def warn(line: str) -> None:
    """Print a warning line on stderr."""
    print(line, file=sys.stderr)


class CacheWriter:
    """Writes the gallery cache while the gallery is embedded: when due (``SAVE_INTERVAL_S``
    after the last write, and at least the last write's time / ``SAVE_MAX_SHARE``) and when
    the embedding stops, each time this gallery's rows followed by ``others``, the rows of
    other galleries the file holds; ``rows`` is how many embeddings of this gallery the file
    holds (None until the cache has been read).

    A write that fails passes one line naming the cache and the reason to ``tell`` (default:
    stderr); ``failed`` then holds the reason, and no further write is tried, so the search
    goes on without the cache and the file stays as it was.
    """

    def __init__(self, cache: str | None, tell: Callable[[str], None] = warn) -> None:
        self.cache = cache
        self.tell = tell
        self.key = ''
        self.rows: int | None = None
        self.others = NO_ROWS
        self.failed: str | None = None
        self.last = time.monotonic()
        self.took = 0.0

    def due(self) -> bool:
        """Whether the periodic write is due."""
        return (self.cache is not None and self.failed is None
                and time.monotonic() - self.last >= max(SAVE_INTERVAL_S,
                                                        self.took / SAVE_MAX_SHARE))

    def write(self, paths: list[str], stamps: list[FileStamp],
              features: torch.Tensor) -> None:
        """Write these rows (N paths, their stamps, (N, D) embeddings), then ``others``, as
        the cache; nothing without a cache file or after a write failed."""
        if self.cache is None or self.failed is not None:
            return
        start = time.monotonic()
        try:
            write_cache(self.cache, self.key,
                        *CacheRows(paths, stamps, features).followed_by(self.others))
        except (OSError, RuntimeError) as error:  # torch.save: RuntimeError for an OSError
            self.failed = write_error_reason(error)
            self.tell(f'warning: cannot write the gallery cache {self.cache} ({self.failed}); '
                      f'the search goes on, but its gallery embeddings are not kept for the '
                      f'next search')
            return
        self.last = time.monotonic()
        self.took = self.last - start
        self.rows = len(paths)

    def kept_note(self) -> str:
        """The end of the sentence of a search stopped while the gallery is embedded: where
        the embeddings done are kept, or that they are not."""
        if self.cache is None:
            return ''
        if self.failed is not None:
            return (f' (the gallery embeddings done are not kept: the cache {self.cache} '
                    f'cannot be written, {self.failed})')
        return f' (the {self.rows} gallery embeddings done are kept in the cache {self.cache})'

    def stopped_line(self, signal_name: str) -> str:
        """The one line printed when the search is stopped."""
        if self.cache is None:
            return (f'search stopped by {signal_name}: no gallery embedding is kept without '
                    f'--cache (or --out); give --cache FILE to make a long search resumable')
        if self.failed is not None:
            return (f'search stopped by {signal_name}: the gallery embeddings done are not '
                    f'kept, as the cache {self.cache} cannot be written ({self.failed})')
        if self.rows is None:
            return (f'search stopped by {signal_name} before the gallery was embedded: the '
                    f'cache {self.cache} is left as it was')
        return (f'search stopped by {signal_name}: {self.rows} gallery embeddings are kept '
                f'in the cache {self.cache}, so the same command embeds only the rest')


class GalleryRows:
    """The gallery's (G, D) embeddings as they are filled in: first the rows the cache holds
    for unchanged files, then the embedded ones; ``done`` marks the rows filled."""

    def __init__(self, paths: list[str], stamps: list[FileStamp],
                 cached: GalleryCache) -> None:
        self.paths, self.stamps = paths, stamps
        self.row_of = {path: row for row, path in enumerate(paths)}
        self.done = torch.zeros(len(paths), dtype=torch.bool)
        self.features: torch.Tensor | None = None
        self.embedded: list[str] = []
        self.skipped: list[str] = []
        reused = [row for row, path in enumerate(paths) if cached.holds(path, stamps[row])]
        if reused:
            self._allocate(cached.features.shape[1])
            self.features[reused] = cached.features[[cached.rows[paths[row]][1]
                                                     for row in reused]]
            self.done[reused] = True
        self.from_cache = len(reused)

    def _allocate(self, dim: int) -> None:
        self.features = torch.empty((len(self.paths), dim))

    def todo(self) -> list[str]:
        """The paths still to embed, in gallery order."""
        return [path for row, path in enumerate(self.paths) if not self.done[row]]

    def add(self, todo: list[str], samples: list, skipped: list[UnreadableImageError]
            ) -> None:
        """Fill in the rows of a batch of data samples embedded from ``todo`` (their
        ``sample_idx`` is their position in it); note the skipped files."""
        for sample in samples:
            if self.features is None:
                self._allocate(sample.pred_feature.shape[0])
            path = todo[sample.sample_idx]
            self.features[self.row_of[path]] = sample.pred_feature
            self.done[self.row_of[path]] = True
            self.embedded.append(path)
        self.skipped.extend(error.path for error in skipped)

    def filled(self) -> tuple[list[str], list[FileStamp], torch.Tensor]:
        """The paths, stamps and embeddings of the rows filled so far, in gallery order."""
        if self.features is None:
            return [], [], torch.empty((0, 0))
        if bool(self.done.all()):  # the usual end: no copy of a large gallery
            return self.paths, self.stamps, self.features
        rows = torch.nonzero(self.done)[:, 0]
        picked = rows.tolist()
        return ([self.paths[row] for row in picked], [self.stamps[row] for row in picked],
                self.features[rows])
