"""A rank that hangs (instead of dying) stops a distributed run within the configured
timeout, with a message that names the timeout and how to change it.

Two real gloo processes through tools/dist_train.sh: a test-only hook, in a module the test
writes and a config imports, puts rank 1 to sleep before its first iteration; rank 0 waits in
the gradient all-reduce, must give up after ``env_cfg.dist_cfg.timeout`` = 10 s, and torchrun
then stops rank 1. Without the timeout rank 0 would wait torch's default 30 minutes.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mmengine.config import Config

from rga_mm.engine.launch import (
    DEFAULT_TIMEOUT_S,
    CollectiveTimeoutError,
    dist_timeout,
    explain_timeouts,
    prepare_cpu_distributed,
)

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
TIMEOUT_S = 10
# after the timeout: the rank's traceback, torchrun noticing the failure and stopping rank 1
MARGIN_S = 15

HANG_HOOK = '''
import time
from pathlib import Path

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class HangOnRankHook(Hook):
    """Rank ``rank`` writes the time to ``marker`` and sleeps before its first iteration."""

    def __init__(self, rank, marker):
        self.rank, self.marker = rank, marker

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank == self.rank:
            Path(self.marker).write_text(repr(time.time()))
            time.sleep(3600)
'''


def _overrides(data_root: Path) -> list:
    root = str(data_root)
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=8',
            'model.head.num_classes=8', 'train_cfg.max_epochs=1',
            f'env_cfg.dist_cfg.timeout={TIMEOUT_S}',
            *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
              for key in ('num_workers=0', 'persistent_workers=False'))]


def _free_port() -> int:
    """A TCP port no one listens on now (others run tests on this machine too)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _run_in_own_session(command: list, env: dict, limit_s: float = 120) -> tuple:
    """(exit code, stdout + stderr) of ``command``; past ``limit_s`` the whole process group
    (torchrun and both ranks) is killed and the test fails."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f'the run was still going after {limit_s} s:\n{output[-5000:]}')
    return process.returncode, output


@pytest.mark.slow
def test_a_hung_rank_stops_the_run_within_the_timeout(tiny_market, tmp_path):
    (tmp_path / 'hang_on_rank_hook.py').write_text(HANG_HOOK)
    marker = tmp_path / 'rank1_hangs_since'
    config = tmp_path / 'hang_config.py'
    config.write_text(f"_base_ = ['{CONFIG}']\n"
                      "custom_imports = dict(imports=['hang_on_rank_hook'])\n"
                      f"custom_hooks = [dict(type='HangOnRankHook', rank=1, "
                      f"marker='{marker}')]\n")
    returncode, output = _run_in_own_session(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path / 'work'),
         *_overrides(tiny_market)],
        env={**os.environ, 'PYTHON': sys.executable, 'PORT': str(_free_port()),
             'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(tmp_path)})
    finished = time.time()
    assert marker.is_file(), output[-5000:]  # rank 1 did hang
    waited = finished - float(marker.read_text())

    assert returncode != 0
    assert waited < TIMEOUT_S + MARGIN_S, output[-5000:]
    # gloo itself was given the configured timeout ...
    assert f'Timed out waiting {TIMEOUT_S * 1000}ms' in output, output[-5000:]
    # ... and the failing rank says what happened and how to change the limit
    assert (f'CollectiveTimeoutError: rank 0 waited {TIMEOUT_S} s (env_cfg.dist_cfg.timeout) '
            f'for the other ranks' in output), output[-5000:]
    assert '--cfg-options env_cfg.dist_cfg.timeout=' in output


HOLD_THE_LOCK = """
import sys, time
from rga_mm.engine.launch.work_dir_lock import exclusive_work_dir
with exclusive_work_dir(sys.argv[1]):
    print('held', flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_every_rank_stops_with_rank_0s_refusal_of_a_locked_work_dir(tiny_market, tmp_path):
    """Only rank 0 locks the work dir; rank 1 must not run on into the Runner's first
    collective without it (a gloo connection error, which torchrun may report as the first
    failure) but stop with the same sentence."""
    work_dir = tmp_path / 'work'
    holder = subprocess.Popen([sys.executable, '-c', HOLD_THE_LOCK, str(work_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        returncode, output = _run_in_own_session(
            ['bash', 'tools/dist_train.sh', str(CONFIG), '2', '--work-dir', str(work_dir),
             *_overrides(tiny_market)],
            env={**os.environ, 'PYTHON': sys.executable, 'PORT': str(_free_port()),
                 'OMP_NUM_THREADS': '1'})
    finally:
        holder.kill()
        holder.wait()
    refusal = (f'another training run (process {holder.pid}) is writing to the work dir '
               f'{work_dir}')
    assert returncode != 0
    assert output.count(refusal) == 2, output[-5000:]  # one from each rank
    assert 'RuntimeError' not in output and 'Connection' not in output, output[-5000:]
    assert sorted(path.name for path in work_dir.iterdir()) == ['.train.lock']


def test_timeout_default_and_bad_values():
    """The default applies to any distributed config; a bad value names the option. (Only
    the checks that come before a process group is created: none is made in this process.)"""
    assert dist_timeout(Config(dict())) == DEFAULT_TIMEOUT_S < 30 * 60  # torch's default
    assert dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=None))))) == 600
    assert dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=30))))) == 30
    for bad in (0, -5, '10m', True):
        cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(timeout=bad))))
        with pytest.raises(ValueError, match=r'env_cfg\.dist_cfg\.timeout must be a positive '
                                             r'number of seconds, got ' + repr(bad)):
            prepare_cpu_distributed(cfg)
    # without a launcher nothing is checked or changed
    cfg = Config(dict(launcher='none', env_cfg=dict(dist_cfg=dict(timeout='10m'))))
    assert prepare_cpu_distributed(cfg) is False


@pytest.mark.parametrize('message', ['DataLoader timed out after 5 seconds',
                                     'CUDA out of memory'])
def test_other_errors_are_not_called_timeouts(message):
    with pytest.raises(RuntimeError, match=message) as raised:
        with explain_timeouts(Config(dict())):
            raise RuntimeError(message)
    assert not isinstance(raised.value, CollectiveTimeoutError)
