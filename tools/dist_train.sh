#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Runs on CPU too (gloo), e.g. `bash tools/dist_train.sh CONFIG 2` on a 2-core machine.
# A rank that hangs stops the run after env_cfg.dist_cfg.timeout seconds (default 600);
# change it with --cfg-options env_cfg.dist_cfg.timeout=SECONDS.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_train.sh: GPUS (argument 2) must be a positive integer, the number of" \
         "processes to start, got '$GPUS'; usage:" \
         "bash tools/dist_train.sh CONFIG GPUS [train.py options]" >&2
    exit 2
fi
# torchrun's store listens on PORT on node 0: a port in use (another run) fails it late
if [[ "$NODE_RANK" == 0 ]] && (: <"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "dist_train.sh: port $PORT is in use (another run?); set the PORT variable to a free" \
         "port, e.g. PORT=$((PORT + 1)) bash tools/dist_train.sh ..." >&2
    exit 2
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
