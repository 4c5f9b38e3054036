#!/usr/bin/env bash
# The whole test suite: first the lint (`ruff check`, configured in ruff.toml; a finding stops
# here), then pytest. Sets up .venv/ with everything (segmentation and test tools included)
# on first use (tools/misc/ensure_env.sh full).
# pytest runs one worker per core (pytest-xdist, `-n auto`; each test file stays on one
# worker, so its module fixtures are built once), taking the files in the order
# tests/conftest.py gives them (`--no-loadscope-reorder`: xdist would otherwise start with the
# files of most tests and end with the few minute-long ones). Extra arguments go to pytest, e.g.
# `bash tools/misc/run_tests.sh -m "not slow"`, `... tests/models`, `... -n 0` (one process).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$root/tools/misc/ensure_env.sh" full
cd "$root"
"$root/.venv/bin/python" -m ruff check rga_mm tools tests
exec "$root/.venv/bin/python" -m pytest -n auto --dist loadfile --no-loadscope-reorder "$@"  # no path: tests/
