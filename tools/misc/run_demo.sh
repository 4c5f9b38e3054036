#!/usr/bin/env bash
# The project's main job. Sets up .venv/ on first use (tools/misc/ensure_env.sh).
# Until the re-ID demo lands this is the dense-vs-factorized RGA benchmark at the four re-ID
# stage shapes; extra arguments go to tools/analysis_tools/benchmark_rga.py.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$root/tools/misc/ensure_env.sh"
cd "$root"
exec "$root/.venv/bin/python" tools/analysis_tools/benchmark_rga.py "$@"
