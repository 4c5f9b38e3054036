#!/usr/bin/env bash
# The whole test suite: first the lint (`ruff check`, configured in ruff.toml; a finding stops
# here), then pytest. Sets up .venv/ with everything (segmentation and test tools included)
# on first use (tools/misc/ensure_env.sh full).
# Extra arguments go to pytest, e.g. `bash tools/misc/run_tests.sh -m "not slow"`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$root/tools/misc/ensure_env.sh" full
cd "$root"
"$root/.venv/bin/python" -m ruff check rga_mm tools tests
exec "$root/.venv/bin/python" -m pytest tests "$@"
