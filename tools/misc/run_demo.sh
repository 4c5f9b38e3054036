#!/usr/bin/env bash
# The project's main job: re-ID with RGA-SC on a synthetic Market-1501, end to end on a CPU.
# Sets up .venv/ with the core (no compiler) on first use (tools/misc/ensure_env.sh),
# generates the data on first use, trains configs/demo/... with tools/train.py, tests it with
# tools/test.py, prints Rank-1 / mAP next to chance, draws what RGA attends to on four
# query images (work_dirs/demo/attention/) and the training curves (work_dirs/demo/curves.png),
# and searches the test gallery for the same four queries (ranked lists in
# work_dirs/demo/search/).
# Extra arguments go to tools/train.py only (e.g. --cfg-options ...): the test, the report, the
# attention maps and the search use the config and the data as they are, so the report always
# describes the default test of the trained checkpoint (tools/test.py stops when that checkpoint
# does not fit the config's model), and train-only options (--resume, --amp) still work.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$root/tools/misc/ensure_env.sh"
cd "$root"
py=.venv/bin/python
config=configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py
data=data/synthetic_reid
work=work_dirs/demo
if (( $# )); then
    echo "run_demo.sh: the extra arguments ($*) change training only; the test, the report," \
        "the attention maps and the search use $config on $data as they are" >&2
fi
"$py" tools/misc/generate_synthetic_reid.py "$data"
"$py" tools/train.py "$config" --work-dir "$work" "$@"
"$py" tools/test.py "$config" "$(cat "$work/last_checkpoint")" --work-dir "$work/test" \
    --out "$work/metrics.json"
"$py" tools/misc/demo_report.py "$work/metrics.json" "$data/Market-1501-v15.09.15"
# four query images of different identities: every 25th query file in name order
mapfile -t queries < <(ls "$data/Market-1501-v15.09.15/query"/*.jpg | awk 'NR % 25 == 1' | head -4)
"$py" tools/visualization/vis_attention.py "$config" "$(cat "$work/last_checkpoint")" \
    "${queries[@]}" --out "$work/attention"
"$py" tools/analysis_tools/analyze_logs.py "$work" --out "$work/curves.png" \
    --keys loss loss_cls loss_triplet lr reid/rank1 reid/mAP
"$py" tools/search.py "$config" "$(cat "$work/last_checkpoint")" \
    --gallery "$data/Market-1501-v15.09.15/bounding_box_test" --query "${queries[@]}" \
    --out "$work/search"
