"""The gallery cache's writes: a search killed while writing leaves a temporary file as large
as the cache, which the next write on that machine removes (never the file of a search still
running or of another machine); a write keeps the rows of other galleries whose files are
unchanged; a write that fails is told in one line and the search goes on without the
cache; a file replaced by another of the same size with its modification time restored
changes its stamp, and a cache of the earlier format is read as holding no row."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from rga_mm.apis.gallery_cache import (
    CacheWriter,
    FileStamp,
    GalleryCache,
    file_stamp,
    partial_path,
    write_cache,
)


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    return process.pid


def test_a_write_removes_the_partial_files_of_killed_searches_only(tmp_path):
    cache = str(tmp_path / 'gallery_cache.pth')
    dead, running = partial_path(cache, _dead_pid()), partial_path(cache, os.getppid())
    other_cache = partial_path(str(tmp_path / 'other.pth'), _dead_pid())
    # a dead pid here may be a live one there: another machine's file stays
    other_machine = partial_path(cache, _dead_pid(), host='another-host')
    for path in (dead, running, other_cache, other_machine):
        with open(path, 'wb') as file:
            file.write(b'half a cache')
    write_cache(cache, 'key', ['a.jpg'], [FileStamp(10, 20, 30, 40)], torch.ones(1, 4))
    assert sorted(os.listdir(tmp_path)) == sorted(
        os.path.basename(path) for path in (cache, running, other_cache, other_machine))
    assert torch.load(cache)['features'].tolist() == [[1.0] * 4]


def _stamped(tmp_path, names: list[str]) -> tuple[list[str], list[FileStamp]]:
    """Files ``names`` in ``tmp_path`` and their stamps."""
    paths = [str(tmp_path / name) for name in names]
    for path in paths:
        with open(path, 'w') as file:
            file.write(path)
    return paths, [file_stamp(os.stat(path)) for path in paths]


def test_a_write_keeps_the_rows_of_other_galleries_whose_files_are_unchanged(tmp_path):
    cache = str(tmp_path / 'gallery_cache.pth')
    paths, stamps = _stamped(tmp_path, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'])
    write_cache(cache, 'key', paths, stamps, torch.arange(8.0).reshape(4, 2))
    os.remove(paths[1])
    with open(paths[2], 'a') as file:  # changed: its row no longer holds
        file.write('more')
    writer = CacheWriter(cache)
    writer.key = 'key'
    writer.others = GalleryCache(cache, 'key').other_rows([paths[3]])
    new, new_stamps = _stamped(tmp_path, ['e.jpg'])
    writer.write([paths[3], *new], [stamps[3], *new_stamps], torch.tensor([[6.0, 7], [8, 9]]))
    saved = torch.load(cache)
    assert saved['paths'] == [paths[3], *new, paths[0]]
    assert saved['features'].tolist() == [[6.0, 7.0], [8.0, 9.0], [0.0, 1.0]]
    assert writer.rows == 2  # this gallery's rows


def test_a_write_that_fails_is_told_once_and_the_search_goes_on_without_the_cache(tmp_path):
    """A folder where the temporary file goes makes the write fail as a full disk would:
    one line names the cache and the reason, no later write is tried and the earlier cache
    stays as it was."""
    cache = str(tmp_path / 'gallery_cache.pth')
    write_cache(cache, 'key', ['a.jpg'], [FileStamp(1, 2, 3, 4)], torch.ones(1, 2))
    earlier = Path(cache).read_bytes()
    os.mkdir(partial_path(cache, os.getpid()))
    told = []
    writer = CacheWriter(cache, told.append)
    writer.key = 'key'
    for _ in range(2):
        writer.write(['b.jpg'], [FileStamp(3, 4, 5, 6)], torch.zeros(1, 2))
    assert told == [f'warning: cannot write the gallery cache {cache} (Is a directory); the '
                    f'search goes on, but its gallery embeddings are not kept for the next '
                    f'search']
    assert not writer.due() and writer.rows is None
    assert Path(cache).read_bytes() == earlier
    assert writer.stopped_line('SIGINT (Ctrl-C)') == (
        f'search stopped by SIGINT (Ctrl-C): the gallery embeddings done are not kept, as the '
        f'cache {cache} cannot be written (Is a directory)')


def test_a_file_replaced_by_one_of_the_same_size_with_its_mtime_restored_changes_its_stamp(
        tmp_path):
    """``cp`` then ``touch -r`` (or ``rsync -a``, ``tar x``): the size and modification time
    are as before, the status-change time is not."""
    (path, other), _ = _stamped(tmp_path, ['a.bmp', 'b.bmp'])
    before = os.stat(path)
    shutil.copyfile(other, path)  # the same size; the same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert file_stamp(after) != file_stamp(before)
    assert file_stamp(after) == FileStamp(after.st_size, after.st_mtime_ns, after.st_ctime_ns,
                                          after.st_ino)
    cache = str(tmp_path / 'gallery_cache.pth')
    write_cache(cache, 'key', [path], [file_stamp(before)], torch.ones(1, 2))
    assert not GalleryCache(cache, 'key').holds(path, file_stamp(after))


def test_a_cache_of_the_earlier_format_is_read_as_holding_no_row(tmp_path, capsys):
    """Its rows, keyed by size and modification time alone, are not trusted: the gallery is
    embedded again, and the next write replaces the file in the current format."""
    cache = str(tmp_path / 'gallery_cache.pth')
    paths, stamps = _stamped(tmp_path, ['a.jpg'])
    torch.save(dict(format='rga_mm gallery embeddings 1', model_key='key', paths=paths,
                    sizes=torch.tensor([stamps[0].size]),
                    mtimes=torch.tensor([stamps[0].mtime_ns]), features=torch.ones(1, 2)),
               cache)
    earlier = GalleryCache(cache, 'key')
    assert earlier.rows == {} and not earlier.holds(paths[0], stamps[0])
    assert capsys.readouterr().out.splitlines() == [
        f'cache {cache} was written by an earlier version of tools/search.py, which missed '
        f'files replaced with their modification time restored; embedding the whole gallery '
        f'again, and the cache will be rewritten']
    writer = CacheWriter(cache)
    writer.key = 'key'
    writer.write(paths, stamps, torch.zeros(1, 2))
    assert GalleryCache(cache, 'key').holds(paths[0], stamps[0])
