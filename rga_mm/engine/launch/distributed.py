"""Distributed runs: gloo data parallelism without CUDA, and a bounded wait for a hung rank.

**CPU-only machines.** mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and
its DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA. So the gloo
process group is created here, before the Runner is built (the Runner then skips its own
initialisation), and the model is wrapped with ``device_ids=None``.

**Timeout.** A collective operation (the gradient all-reduce, the buffer sync, gathering
evaluation results, a barrier) waits at most ``env_cfg.dist_cfg.timeout`` seconds for the
other ranks; torch's own default is 30 minutes, so a rank that hangs instead of dying would
keep the others waiting that long. rga_mm's default is :data:`DEFAULT_TIMEOUT_S`, which is
far above the longest step one rank does while the others wait (rank 0 computing the
metrics, saving a checkpoint). mmengine's ``init_dist`` passes the value to
``init_process_group`` on GPUs; the gloo group made here gets it too. On gloo the waiting
rank raises, and :func:`explain_timeouts` around the run turns that into a
:class:`CollectiveTimeoutError` naming the limit and how to change it; on NCCL, torch's
watchdog aborts the process and logs ``Timeout(ms)``.
"""
import datetime
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

DEFAULT_TIMEOUT_S = 600
# where each launcher tells a process its global rank before mmengine's init_dist runs
RANK_VARIABLES = {'pytorch': 'RANK', 'slurm': 'SLURM_PROCID', 'mpi': 'OMPI_COMM_WORLD_RANK'}
TIMEOUT_OPTION = 'env_cfg.dist_cfg.timeout'
# gloo raises a plain RuntimeError: "[.../unbound_buffer.cc:81] Timed out waiting 10000ms for
# recv operation to complete"; torch's own errors are DistError subclasses
GLOO_TIMEOUT = re.compile(r'Timed out waiting \d+ms')
ANY_TIMEOUT = re.compile(r'timed out|timeout', re.IGNORECASE)


class CollectiveTimeoutError(RuntimeError):
    """A collective operation waited longer than ``env_cfg.dist_cfg.timeout``."""


def dist_timeout(cfg: Config) -> float:
    """``env_cfg.dist_cfg.timeout`` of ``cfg`` in seconds (checked); the default where it
    is missing or None."""
    dist_cfg = (cfg.get('env_cfg') or {}).get('dist_cfg') or {}
    timeout = dist_cfg.get('timeout')
    if timeout is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f'{TIMEOUT_OPTION} must be a positive number of seconds, got '
                         f'{timeout!r}')
    return timeout


def launched_as_rank_zero() -> bool:
    """Whether this process is rank 0 of its launch (or not launched distributed), read
    from the variable each launcher sets (:data:`RANK_VARIABLES`) so that it holds before
    the process group exists and mmengine sets ``RANK`` for Slurm and MPI launches: the
    process that prints what all ranks would print alike."""
    return all(os.environ.get(variable, '0') == '0' for variable in RANK_VARIABLES.values())


def prepare_cpu_distributed(cfg: Config, launch_script: str = 'tools/dist_train.sh') -> bool:
    """Set the collective timeout of a distributed ``cfg`` and, when launched without CUDA,
    set up gloo data parallelism.

    Args:
        cfg: the run's config; its ``launcher`` says whether the run is distributed.
        launch_script: the script that starts the tool under torchrun, named by the stop
            for a ``--launcher pytorch`` run started without it.

    Returns:
        True when it initialised the process group (launcher set, no CUDA device).

    Raises:
        SystemExit: without CUDA, a launcher other than ``pytorch``, or ``pytorch`` without
            torchrun's environment.
    """
    if cfg.get('launcher', 'none') == 'none':
        return False
    timeout = dist_timeout(cfg)
    dist_cfg = _dist_cfg(cfg)
    dist_cfg.timeout = timeout  # read by mmengine's init_dist when the Runner initialises
    if launched_as_rank_zero():
        print_log(f'distributed: a rank waits at most {timeout:g} s for the others '
                  f'({TIMEOUT_OPTION})', logger='current')
    if torch.cuda.is_available():
        check_gpu_for_local_rank(os.environ.get('LOCAL_RANK'), torch.cuda.device_count(),
                                 launch_script)
        return False
    if cfg.launcher != 'pytorch':
        raise SystemExit(f'--launcher {cfg.launcher}: without CUDA, distributed runs take the '
                         f'pytorch launcher (torchrun) alone; start them with {launch_script}')
    if not dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise SystemExit(f'--launcher pytorch expects torchrun\'s environment, but '
                             f'{", ".join(missing)} are not set: start the run with '
                             f'{launch_script}')
        with explain_timeouts(cfg):  # a rank that never arrives times out here
            dist.init_process_group(backend='gloo',
                                    timeout=datetime.timedelta(seconds=timeout))
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)
    dist_cfg.backend = 'gloo'
    replace_sync_bn(cfg)
    return True


def check_gpu_for_local_rank(local_rank: str | None, device_count: int,
                             launch_script: str) -> None:
    """Stop a process whose ``LOCAL_RANK`` (torchrun's, a string; None without torchrun)
    has no GPU of the ``device_count`` on its machine: mmengine would fail in
    ``torch.cuda.set_device`` with "invalid device ordinal" on each such rank."""
    if local_rank is None or not local_rank.isdigit() or int(local_rank) < device_count:
        return
    raise SystemExit(f'local rank {local_rank} has no GPU on this machine, which has '
                     f'{device_count}: {launch_script} starts one process per GPU, so give it '
                     f'a GPU count of {device_count} or fewer (CUDA_VISIBLE_DEVICES decides '
                     f'which GPUs)')


def replace_sync_bn(cfg: Config) -> None:
    """Give the model of a CPU distributed ``cfg`` BatchNorm where it asks for SyncBN (the
    Cityscapes configs, as mmseg's), saying so: PyTorch's SyncBatchNorm runs on CUDA only,
    and the DDP wrapper refuses it on the CPU. Each rank then normalises with the statistics
    of its own batch, as a run without ``--launcher`` does (mmengine's Runner converts SyncBN
    to BN there). A ``sync_bn`` option that would convert BN to SyncBN is dropped too."""
    replaced = sync_bn_as_bn(cfg.model)
    if cfg.get('sync_bn'):
        cfg.sync_bn = None
        replaced += 1
    if replaced and launched_as_rank_zero():
        print_log('distributed on the CPU: SyncBN needs CUDA, so the model uses BN (each rank '
                  'normalises with its own batch)', logger='current')


def sync_bn_as_bn(node: object) -> int:
    """Turn every ``type='SyncBN'`` of the config ``node`` (dicts and lists, in place) into
    ``'BN'``; returns how many."""
    if isinstance(node, dict):
        count = 0
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            count = 1
        return count + sum(sync_bn_as_bn(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return sum(sync_bn_as_bn(value) for value in node)
    return 0


def _dist_cfg(cfg: Config) -> dict:
    """``cfg.env_cfg.dist_cfg``, created empty where missing."""
    if cfg.get('env_cfg') is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg') is None:
        cfg.env_cfg.dist_cfg = dict()
    return cfg.env_cfg.dist_cfg


@contextmanager
def closing_process_group() -> Iterator[None]:
    """Destroy the default process group, if one was made, when the block ends.

    Neither mmengine nor torchrun does: the process then exits with gloo's threads still
    alive, and a rank can abort at exit (``terminate called without an active exception``,
    exit code -6) after finishing its work, failing the whole launch.
    """
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


@contextmanager
def explain_timeouts(cfg: Config) -> Iterator[None]:
    """Re-raise a collective operation's timeout inside the block as a
    :class:`CollectiveTimeoutError` that names the limit and how to change it."""
    try:
        yield
    except RuntimeError as error:
        if isinstance(error, CollectiveTimeoutError) or not _is_timeout(error):
            raise
        rank = dist.get_rank() if dist.is_initialized() else os.environ.get('RANK', '?')
        raise CollectiveTimeoutError(
            f'rank {rank} waited {dist_timeout(cfg):g} s ({TIMEOUT_OPTION}) for the other '
            f'ranks in a collective operation and gave up: another rank hung or is that '
            f'much slower (the other ranks\' logs show where they stopped). If a rank '
            f'legitimately needs longer, raise the limit, e.g. --cfg-options '
            f'{TIMEOUT_OPTION}=1800') from error


def _is_timeout(error: RuntimeError) -> bool:
    if isinstance(error, dist.DistError):
        return ANY_TIMEOUT.search(str(error)) is not None
    return GLOO_TIMEOUT.search(str(error)) is not None
