"""Train a model from an rga_mm config with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.utils.distributed import prepare_cpu_distributed
from rga_mm.utils.run_config import add_run_arguments, load_run_config, parse_run_args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    add_run_arguments(parser)
    return parse_run_args(parser)


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = load_run_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device: mmengine\'s AmpOptimWrapper does '
                             'not run on the CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise SystemExit(f'checkpoint {args.resume} does not exist')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main() -> None:
    cfg = build_config(parse_args())
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
