"""Evaluate a checkpoint with an rga_mm config (mmengine's test loop).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.json]
                         [--partial-load] [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm|mpi]

The checkpoint must fit the config's model (every tensor name and shape), or the tool stops
before evaluating: mmengine alone would evaluate random weights for whatever is missing.
``--partial-load`` accepts a checkpoint that fills the model only in part, on purpose.
"""
import argparse
import json
from collections.abc import Sequence

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import CheckpointError, read_checkpoint
from rga_mm.engine.launch import (
    add_run_arguments,
    build_checked_runner,
    check_output_file,
    explain_timeouts,
    load_run_config,
    parse_run_args,
    prepare_cpu_distributed,
    stop_on_input_errors,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation log')
    parser.add_argument('--out', help='write the metrics to this JSON file (its missing '
                        'folders are created)')
    add_run_arguments(parser)
    return parse_run_args(parser, argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    check_output_file(args.out)
    cfg = load_run_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    try:
        checkpoint = read_checkpoint(args.checkpoint)
    except (FileNotFoundError, CheckpointError) as error:
        raise SystemExit(str(error)) from None
    cfg.load_from = args.checkpoint
    prepare_cpu_distributed(cfg)
    runner = build_checked_runner(cfg, checkpoint, args.checkpoint, args.partial_load)
    del checkpoint  # the Runner reads the file again, with its hooks
    with explain_timeouts(cfg), stop_on_input_errors():
        metrics = runner.test()
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
