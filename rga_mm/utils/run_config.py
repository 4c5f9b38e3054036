"""The command-line handling tools/train.py and tools/test.py share."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_run_config(config: str, launcher: str, cfg_options: Optional[dict],
                    work_dir: Optional[str]) -> Config:
    """Load ``config`` and apply ``--launcher``, ``--cfg-options`` and ``--work-dir``.

    Without ``--work-dir`` or a ``work_dir`` in the config, runs go to
    ``./work_dirs/<config name>``, as in OpenMMLab's tools.
    """
    if not osp.isfile(config):
        raise SystemExit(f'config file {config} does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
