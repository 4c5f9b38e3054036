"""Run a command (a tool of the repository, a shell script) as a subprocess from the
repository root and check that it succeeded, or call a tool's ``main(argv)`` in the test's
own process as the command line would run it; limit the size of the files a process
writes, as a full disk would stop it. Shared by tests in several folders (importable
as ``tool_runs``: tests/conftest.py puts tests/ on ``sys.path``)."""
import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

from mmengine.logging import MMLogger

from rga_mm.testing import load_script

ROOT = Path(__file__).parents[1]


def run_checked(*command: str, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` in the repository root with ``env`` added to this process's
    environment; assert it exits 0, showing the tails of its stdout and stderr if not."""
    result = subprocess.run([*command], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _exit_status(stop: SystemExit) -> tuple[int, str]:
    """The exit status and the stderr text the interpreter makes of ``stop``: 0 for no
    code, an integer code as it is, any other code printed to stderr with status 1."""
    if stop.code is None:
        return 0, ''
    if isinstance(stop.code, int):
        return stop.code, ''
    return 1, f'{stop.code}\n'


def run_in_process(script: ModuleType, *args: object) -> subprocess.CompletedProcess:
    """Call ``script.main(argv)`` (a tool loaded with ``rga_mm.testing.load_script``) on
    ``args`` as ``python SCRIPT ARGS`` would run it, without an interpreter's start-up:
    ``sys.argv`` names the script (argparse's messages start with its file name), and the
    exit status and stdout and stderr are those the command would give. An exception other
    than ``SystemExit`` propagates (the command would end in a traceback).

    The tools' logger is created before the output is captured, so that it keeps writing
    to this process's stdout afterwards."""
    argv = [str(arg) for arg in args]
    MMLogger.get_current_instance()
    stdout, stderr = io.StringIO(), io.StringIO()
    with (mock.patch.object(sys, 'argv', [script.__file__, *argv]),
          contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr)):
        try:
            script.main(argv)
            returncode, message = 0, ''
        except SystemExit as stop:
            returncode, message = _exit_status(stop)
    return subprocess.CompletedProcess([script.__file__, *argv], returncode,
                                       stdout.getvalue(), stderr.getvalue() + message)


def run_checked_in_process(path: str, *args: object) -> subprocess.CompletedProcess:
    """The tool at ``path`` (from the repository root) on ``args`` in this process, as
    :func:`run_in_process` runs it; assert it exits 0, showing the tails of its stdout and
    stderr if not. The tool is registered as a module (``<stem>_tool``), so that functions
    it defines can be pickled for DataLoader worker processes."""
    script = load_script(ROOT / path, f'{Path(path).stem}_tool', register=True)
    result = run_in_process(script, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def limit_file_size(limit: int) -> None:
    """Limit the files this process writes to ``limit`` bytes, as ``ulimit -f`` does, with
    SIGXFSZ ignored: its default action kills the process, which then gets no EFBIG error
    from the write (POSIX only). Both survive ``exec``, so a child process sets them in its
    ``preexec_fn``."""
    import resource
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE,
                       (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def run_with_file_size_limit(*command: object, limit: int) -> subprocess.CompletedProcess:
    """``command`` in the repository root, its files limited to ``limit`` bytes
    (:func:`limit_file_size`): a full disk, as a write meets it."""
    return subprocess.run([str(part) for part in command], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: limit_file_size(limit))
