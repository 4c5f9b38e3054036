"""Distributed training on CPU-only machines (gloo), where mmengine's defaults fail.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and its DDP wrapper passes
``device_ids=[LOCAL_RANK]``; both fail without CUDA. The measured fix (design §5): create the
gloo process group before the Runner is built (the Runner then skips its own
initialisation) and wrap the model with ``device_ids=None``.
"""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Set up gloo data parallelism for ``cfg`` when launched without CUDA.

    Returns True when it initialised the process group (launcher set, no CUDA device).
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher != 'pytorch':
        raise ValueError(f'CPU-only distributed runs support the pytorch launcher '
                         f'(torchrun), got launcher={cfg.launcher!r}')
    if not dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise RuntimeError(f'--launcher pytorch expects torchrun\'s environment; '
                               f'{missing} not set (use tools/dist_train.sh)')
        dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    return True
