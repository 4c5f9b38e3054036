#!/usr/bin/env bash
# Create .venv/ at the repository root and install rga_mm into it, once per profile:
#   core  (default) what the demo, re-ID, CIFAR and the tools need: pure-Python wheels,
#         mmcv-lite, no compiler; under a minute on a fresh 2-core machine
#   full  core + the `seg`, `tests` and `deploy` extras: mmsegmentation and mmcv 2.1.0
#         compiled with its CPU ops (about 9 minutes the first time), pytest, ruff, openmim,
#         onnx
# Exact versions come from requirements/constraints.txt. A stamp per profile holds a hash of
# the files that define it: a second run with unchanged files installs nothing.
# Usage: bash tools/misc/ensure_env.sh [core|full]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
profile=${1:-core}
case "$profile" in
  core|full) ;;
  *) echo "usage: bash tools/misc/ensure_env.sh [core|full] (got '$profile')" >&2; exit 2 ;;
esac
venv="$root/.venv"
req="$root/requirements"
py="$venv/bin/python"
pip=("$py" -m pip install --disable-pip-version-check -c "$req/constraints.txt")

profile_hash() {  # the files that define a profile, hashed
  local files=("$req/constraints.txt" "$req/runtime.txt" "$root/setup.py"
               "$root/tools/misc/patch_torchvision.sh")
  [ "$1" = full ] && files+=("$req/build.txt" "$req/seg.txt" "$req/tests.txt" "$req/deploy.txt")
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

is_current() {  # is_current PROFILE: its stamp matches the files
  [ -f "$venv/.rga_mm-$1" ] && [ "$(cat "$venv/.rga_mm-$1")" = "$(profile_hash "$1")" ]
}

install_core() {
  echo "[rga_mm] installing the core environment into $venv (under a minute)"
  [ -x "$py" ] || python3 -m venv "$venv"
  "${pip[@]}" -r "$req/runtime.txt"
  bash "$root/tools/misc/patch_torchvision.sh" "$py"
  "${pip[@]}" --no-deps --no-build-isolation -e "$root"
  "$py" -c "import torch, torchvision, mmcv, mmengine, mmpretrain, rga_mm"
  profile_hash core > "$venv/.rga_mm-core"
}

install_full() {
  echo "[rga_mm] adding segmentation and test tools to $venv (first time: about 9 minutes," \
       "most of it compiling mmcv's CPU ops)"
  "${pip[@]}" -r "$req/build.txt"
  # mmcv (with ops) ships the Python files of mmcv-lite 2.1.0 plus its compiled extension;
  # the GPUs are hidden so that its setup.py builds CPU kernels only (no nvcc needed).
  PATH="$venv/bin:$PATH" MAX_JOBS=${MAX_JOBS:-2} CUDA_VISIBLE_DEVICES='' \
    "${pip[@]}" --no-build-isolation -r "$req/seg.txt" -r "$req/tests.txt" -r "$req/deploy.txt"
  "$py" -c "import mmcv.ops, mmseg, mim, pytest, xdist, onnx, onnxruntime, onnxscript, rga_mm"
  "$py" -m ruff --version
  profile_hash full > "$venv/.rga_mm-full"
}

is_current core || install_core
if [ "$profile" = full ]; then
  is_current full || install_full
fi
