"""The gallery cache's temporary files: a search killed while writing leaves one as large as
the cache; the next write on that machine removes it, and never the file of a search still
running or of another machine."""
import os
import subprocess
import sys

import torch

from rga_mm.apis.gallery_cache import partial_path, write_cache


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
    write_cache(cache, 'key', ['a.jpg'], [(10, 20)], torch.ones(1, 4))
    assert sorted(os.listdir(tmp_path)) == sorted(
        os.path.basename(path) for path in (cache, running, other_cache, other_machine))
    assert torch.load(cache)['features'].tolist() == [[1.0] * 4]
