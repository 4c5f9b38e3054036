"""Run a command (a tool of the repository, a shell script) as a subprocess from the
repository root and check that it succeeded. Shared by tests in several folders (importable
as ``tool_runs``: tests/conftest.py puts tests/ on ``sys.path``)."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run_checked(*command: str, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` in the repository root with ``env`` added to this process's
    environment; assert it exits 0, showing the tails of its stdout and stderr if not."""
    result = subprocess.run([*command], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
