#!/usr/bin/env bash
# PyPI's torchvision 0.28.0 is CUDA-linked: beside a CPU torch its compiled ops fail to load and
# two unguarded `register_fake("torchvision::nms"/"qnms")` calls then raise "operator
# torchvision::nms does not exist" at import. Guard both with torchvision.extension._has_ops().
# Idempotent, and a no-op where the file has no such lines (e.g. a CUDA build that loads).
set -euo pipefail
PY=${1:-python}
file=$("$PY" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec('torchvision')
print(os.path.join(os.path.dirname(spec.origin), '_meta_registrations.py'))
PY
)
sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' "$file"
