"""Evaluate a checkpoint with an rga_mm config (mmengine's test loop).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.json]
                         [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import json
import os.path as osp

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import check_checkpoint_shapes, load_state_dict_file
from rga_mm.utils.distributed import prepare_cpu_distributed
from rga_mm.utils.run_config import add_run_arguments, load_run_config, parse_run_args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation log')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    add_run_arguments(parser)
    return parse_run_args(parser)


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_run_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    # mmengine only warns about tensors whose shapes differ and tests random weights
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_checkpoint_shapes(model, load_state_dict_file(args.checkpoint))
    metrics = runner.test()
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
