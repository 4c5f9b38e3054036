#!/usr/bin/env bash
# rga_mm's CUDA checks on a GPU machine without network access: a Python with CUDA builds of
# torch and torchvision, pytest and the usual scientific packages, but not the OpenMMLab stack.
#
# Usage: bash tools/misc/gpu_check.sh [WHEEL_DIR]   (default: .gpu_wheels/ at the repo root)
#
# WHEEL_DIR comes from `bash tools/misc/make_gpu_wheels.sh [WHEEL_DIR]` on a networked machine
# (mmengine, mmcv-lite, mmpretrain and their small pure-Python dependencies, about 4 MB).
# Checks, in this order, each failing with one sentence and exit status 1:
#   1. the wheel folder exists and holds a wheel for every package make_gpu_wheels.sh pins
#      (checked first, so that a folder can be checked on a machine without CUDA too);
#   2. a CUDA device: python3 -c 'import torch; exit(not torch.cuda.is_available())'.
# Then, timing each phase (pytest is stopped after 270 s and the benchmark after 180 s, so
# the whole run stays within 8 minutes; on one H100 it should take 2 to 4):
#   3. installs the wheels into a temporary folder (pip --no-index --no-deps --target; a
#      package the machine already has is not installed again) and puts that folder and the
#      repository on PYTHONPATH;
#   4. prints the versions of torch, CUDA, the GPU, mmengine, mmcv and mmpretrain;
#   5. runs `pytest -m cuda tests/cuda`: the run fails if a test fails or if any was skipped;
#   6. prints the training benchmark table (tools/analysis_tools/gpu_train_benchmark.py).
# Everything goes to the terminal and to a log file (GPU_CHECK_LOG, default
# work_dirs/gpu_check/gpu_check-<time>-<pid>.log); when $OUT is set, the log and pytest's JUnit
# report are copied there too.
# PYTHON chooses the interpreter (default python3). Exit status 0 only when every phase passed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
wheel_dir=${1:-$root/.gpu_wheels}
py=${PYTHON:-python3}
make_cmd='bash tools/misc/make_gpu_wheels.sh'
PYTEST_LIMIT_S=270
BENCHMARK_LIMIT_S=180

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

check_wheels() {
  if [ ! -d "$wheel_dir" ]; then
    echo "gpu_check: the wheel folder $wheel_dir does not exist; make it on a networked" \
         "machine with \`$make_cmd\` and bring it along."
    return 1
  fi
  local package stem matches
  shopt -s nullglob nocaseglob
  while read -r package stem; do
    matches=("$wheel_dir"/"$stem"*.whl)
    if [ ${#matches[@]} -eq 0 ]; then
      echo "gpu_check: the wheel folder $wheel_dir has no wheel for $package; remake it on a" \
           "networked machine with \`$make_cmd\`."
      return 1
    fi
  done < <(bash "$root/tools/misc/make_gpu_wheels.sh" --list)
  shopt -u nullglob nocaseglob
}

check_cuda() {
  if ! "$py" -c 'import torch; exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "gpu_check: no CUDA device found ($py: torch.cuda.is_available() is not True)."
    return 1
  fi
}

install_wheels() {  # install_wheels SITE: the wheels of packages this Python lacks
  local site=$1 wanted=()
  mapfile -t wanted < <("$py" - "$wheel_dir"/*.whl <<'EOF'
import importlib.metadata as metadata
import sys
from pathlib import Path

for wheel in sys.argv[1:]:
    name, version = Path(wheel).name.split('-')[:2]
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(wheel)
    else:
        print(f'  {name}: the machine has {have}, not installing the {version} wheel',
              file=sys.stderr)
EOF
  )
  mkdir -p "$site"
  [ ${#wanted[@]} -gt 0 ] || return 0
  if "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
      --target "$site" "${wanted[@]}"
  else  # pure-Python wheels are zip files laid out as site-packages
    echo "  (no pip for $py: unpacking the wheels)"
    "$py" -c 'import sys, zipfile
for wheel in sys.argv[2:]:
    zipfile.ZipFile(wheel).extractall(sys.argv[1])' "$site" "${wanted[@]}"
  fi
  echo "  installed ${#wanted[@]} wheels into $site"
}

print_versions() {
  "$py" - <<'EOF'
import platform

import torch
import mmcv
import mmengine
import mmpretrain
import rga_mm

print(f'python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, '
      f'cuDNN {torch.backends.cudnn.version()}')
for index in range(torch.cuda.device_count()):
    props = torch.cuda.get_device_properties(index)
    print(f'GPU {index}: {props.name}, {props.total_memory / 2**30:.0f} GiB, '
          f'compute capability {props.major}.{props.minor}')
print(f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, rga_mm {rga_mm.__version__} ({rga_mm.__file__})')
EOF
}

run_cuda_tests() {  # run_cuda_tests JUNIT_XML: pytest, then fail on any failure or skip
  local junit=$1 rc=0
  (cd "$root" && timeout "$PYTEST_LIMIT_S" "$py" -m pytest -m cuda tests/cuda -q -rs \
     --durations=8 --junitxml="$junit") || rc=$?
  if [ "$rc" -eq 124 ]; then
    echo "gpu_check: the CUDA tests ran past ${PYTEST_LIMIT_S} s and were stopped."
  fi
  "$py" - "$junit" "$rc" <<'EOF'
import sys
import xml.etree.ElementTree as ET

path, rc = sys.argv[1], int(sys.argv[2])
try:
    suites = ET.parse(path).getroot()
except (OSError, ET.ParseError):
    sys.exit(f'gpu_check: pytest wrote no report (exit status {rc})')
count = {key: sum(int(s.get(key, 0)) for s in suites.iter('testsuite'))
         for key in ('tests', 'failures', 'errors', 'skipped')}
passed = count['tests'] - count['failures'] - count['errors'] - count['skipped']
print(f"cuda tests: {passed} passed, {count['failures']} failed, {count['errors']} errors, "
      f"{count['skipped']} skipped")
if rc != 0 or count['tests'] == 0 or count['skipped'] or count['failures'] or count['errors']:
    sys.exit('gpu_check: the CUDA tests did not all pass'
             + (' (skipped tests count as not passed here)' if count['skipped'] else ''))
EOF
}

main() {
  set -euo pipefail
  local start phase commit status=0
  start=$(now)
  check_wheels
  check_cuda
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  commit=$(git -C "$root" describe --always --dirty 2>/dev/null || echo 'not a git checkout')
  echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), repository $root ($commit), log $log"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  fi

  echo "== install wheels from $wheel_dir"
  phase=$(now)
  install_wheels "$tmp/site"
  export PYTHONPATH="$tmp/site:$root${PYTHONPATH:+:$PYTHONPATH}"
  echo "   install: $(since "$phase")"

  echo "== versions"
  phase=$(now)
  print_versions || { echo "gpu_check: the OpenMMLab stack or rga_mm does not import (above)"; return 1; }
  echo "   versions: $(since "$phase")"

  echo "== pytest -m cuda tests/cuda"
  phase=$(now)
  run_cuda_tests "$tmp/cuda.xml" || status=1
  if [ -n "${OUT:-}" ] && [ -f "$tmp/cuda.xml" ]; then
    cp "$tmp/cuda.xml" "$OUT/gpu_check_cuda_tests.xml"
  fi
  echo "   cuda tests: $(since "$phase")"

  echo "== training benchmark"
  phase=$(now)
  (cd "$root" && timeout "$BENCHMARK_LIMIT_S" "$py" tools/analysis_tools/gpu_train_benchmark.py \
     --batch 64 --warmup 5 --iters 20) || { echo "gpu_check: the benchmark failed"; status=1; }
  echo "   benchmark: $(since "$phase")"

  if [ "$status" -eq 0 ]; then
    echo "gpu_check: all checks passed in $(since "$start")"
  else
    echo "gpu_check: FAILED (see above), after $(since "$start")"
  fi
  return "$status"
}

log=${GPU_CHECK_LOG:-$root/work_dirs/gpu_check/gpu_check-$(date -u +%Y%m%d-%H%M%S)-$$.log}
mkdir -p "$(dirname "$log")"
set +e
main 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp "$log" "$OUT/"
fi
exit "$rc"
