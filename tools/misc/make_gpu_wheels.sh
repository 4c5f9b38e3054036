#!/usr/bin/env bash
# Download, on a machine with network access, the wheels that tools/misc/gpu_check.sh needs on
# a GPU machine that has none: a Python 3.12 machine with CUDA torch/torchvision, numpy,
# opencv-python-headless, matplotlib, scipy, h5py, tensorboard, rich, einops, pyyaml, pillow,
# packaging, regex and pytest, but not the OpenMMLab stack. These are that stack (mmengine,
# mmcv-lite: mmcv's pure-Python build, which is all rga_mm's re-ID code needs, and mmpretrain)
# and the small dependencies that machine lacks, read from each wheel's Requires-Dist. rga_mm
# itself needs no wheel: gpu_check.sh puts the repository on PYTHONPATH.
#
# Usage: bash tools/misc/make_gpu_wheels.sh [DIR]   (default: .gpu_wheels/ at the repository
#                                                    root, ignored by git)
#        bash tools/misc/make_gpu_wheels.sh --list  (print each pinned package and the stem of
#                                                    its wheel's file name; gpu_check.sh
#                                                    reads them to check a wheel folder)
# A pure-Python (py3-none-any) wheel is preferred for every package, so that the folder installs
# on any CPU architecture; a platform wheel (CPython 3.12, manylinux x86_64) is the fallback.
# The folder keeps one wheel per package: wheels of other versions are removed.
set -euo pipefail

PACKAGES=(
  mmengine==0.10.7
  mmcv-lite==2.1.0
  mmpretrain==1.2.0
  addict==2.4.0               # mmengine, mmcv-lite
  termcolor==3.3.0            # mmengine
  yapf==0.43.0                # mmengine, mmcv-lite
  platformdirs==4.14.7        # yapf
  mat4py==0.6.0               # mmpretrain
  importlib-metadata==10.2.0  # mmpretrain
  zipp==4.1.2                 # importlib-metadata
  lazy-importer==0.1.0        # importlib-metadata
  modelindex==0.0.2           # mmpretrain
  model-index==0.1.11         # modelindex
  ordered-set==4.1.0          # model-index
  click==8.5.1                # model-index
  markdown==3.11.3            # model-index (tensorboard has it too: gpu_check.sh then skips it)
  prettytable==3.18.0         # rga_mm (dataset statistics tables)
  wcwidth==0.9.4              # prettytable
)
LIMIT_MB=60

# the wheel file name stem of NAME==VERSION: lower case, runs of -_. as one _ (PEP 427/503)
stem() {
  local name=${1%%==*} version=${1##*==}
  name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/_/g')
  printf '%s-%s-' "$name" "$version"
}

if [ "${1:-}" = --list ]; then  # PACKAGE==VERSION and its wheel's file name stem
  for package in "${PACKAGES[@]}"; do echo "$package $(stem "$package")"; done
  exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${1:-$root/.gpu_wheels}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
python=${PYTHON:-python3}
download=("$python" -m pip download --disable-pip-version-check --no-deps --only-binary=:all:
          --python-version 3.12 --implementation cp -d "$dir")
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform any)

echo "[make_gpu_wheels] downloading ${#PACKAGES[@]} wheels for CPython 3.12 into $dir"
for package in "${PACKAGES[@]}"; do
  if ! "${download[@]}" --platform any -q "$package" 2>/dev/null; then
    echo "[make_gpu_wheels] $package has no pure-Python wheel: taking a manylinux x86_64 one"
    "${download[@]}" "${platforms[@]}" -q "$package"
  fi
done

# one version per package: drop wheels that the list above does not name
keep=()
for package in "${PACKAGES[@]}"; do keep+=("$(stem "$package")"); done
shopt -s nullglob nocaseglob
for wheel in "$dir"/*.whl; do
  name=$(basename "$wheel" | tr '[:upper:]' '[:lower:]')
  wanted=false
  for prefix in "${keep[@]}"; do
    [[ "$name" == "$prefix"* ]] && wanted=true
  done
  if ! $wanted; then
    echo "[make_gpu_wheels] removing $(basename "$wheel") (not in the list)"
    rm -f "$wheel"
  fi
done

missing=()
for package in "${PACKAGES[@]}"; do
  matches=("$dir"/"$(stem "$package")"*.whl)
  [ ${#matches[@]} -eq 1 ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[make_gpu_wheels] no single wheel in $dir for: ${missing[*]}" >&2
  exit 1
fi

bytes=0
for wheel in "$dir"/*.whl; do
  size=$(wc -c < "$wheel")
  bytes=$((bytes + size))
  awk -v s="$size" -v n="$(basename "$wheel")" 'BEGIN { printf "  %8.1f kB  %s\n", s / 1000, n }'
done
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "[make_gpu_wheels] ${#PACKAGES[@]} wheels, $mb MB in $dir"
if [ "$bytes" -gt $((LIMIT_MB * 1000000)) ]; then
  echo "[make_gpu_wheels] over $LIMIT_MB MB: too large to carry to the GPU machine" >&2
  exit 1
fi
echo "[make_gpu_wheels] on the GPU machine: bash tools/misc/gpu_check.sh${1:+ $1}"
