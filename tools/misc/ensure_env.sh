#!/usr/bin/env bash
# Create .venv/ at the repository root and install everything rga_mm needs, once.
# A stamp file holds a hash of the requirement files: a second run with unchanged
# requirements installs nothing. Usage: bash tools/misc/ensure_env.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv"
stamp="$venv/.rga_mm-installed"
want=$(cat "$root/requirements/stage1.txt" "$root/requirements/stage2.txt" "$root/setup.py" \
       "$root/tools/misc/patch_torchvision.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[rga_mm] setting up $venv (first run: about 10 minutes, most of it compiling mmcv's ops)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)
"${pip[@]}" -r "$root/requirements/stage1.txt"
PATH="$venv/bin:$PATH" MAX_JOBS=${MAX_JOBS:-2} "${pip[@]}" --no-build-isolation \
  -r "$root/requirements/stage2.txt"
bash "$root/tools/misc/patch_torchvision.sh" "$venv/bin/python"
"${pip[@]}" --no-deps --no-build-isolation -e "$root"
"$venv/bin/python" -c "import torch, torchvision, mmcv.ops, mmseg, mmpretrain, rga_mm" 
echo "$want" > "$stamp"
echo "[rga_mm] environment ready"
