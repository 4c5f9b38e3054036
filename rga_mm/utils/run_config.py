"""The command-line handling tools/train.py and tools/test.py share."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

from .config_loader import load_config


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, as in OpenMMLab's tools."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_run_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; a ``--local-rank`` given by an old launcher becomes
    ``LOCAL_RANK`` unless the environment already has one (torchrun sets it)."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_run_config(config: str, launcher: str, cfg_options: Optional[dict],
                    work_dir: Optional[str]) -> Config:
    """Load ``config`` and apply ``--launcher``, ``--cfg-options`` and ``--work-dir``.

    Without ``--work-dir`` or a ``work_dir`` in the config, runs go to
    ``./work_dirs/<config name>``, as in OpenMMLab's tools.
    """
    if not osp.isfile(config):
        raise SystemExit(f'config file {config} does not exist')
    try:
        cfg = load_config(config)
    except ImportError as error:  # a segmentation config without the seg extra
        raise SystemExit(str(error)) from error
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
