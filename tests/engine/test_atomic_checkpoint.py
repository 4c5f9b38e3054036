"""A training process killed while it writes a checkpoint can still be resumed.

The real tools/train.py on a tiny synthetic Market-1501 with the demo config (its
default ``AtomicCheckpointHook``), a checkpoint every epoch and ``max_keep_ckpts=1``. The
write of ``epoch_2.pth`` stalls half-way (``paused_backend.py``, a file backend that waits
forever after half the bytes) and the process is killed with SIGKILL at that moment.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.runner import find_latest_checkpoint

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
pytestmark = pytest.mark.slow


def _command(config: Path, work_dir: Path, data_root: Path, *extra: str) -> list:
    root = str(data_root)
    return [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir),
            *extra, '--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'model.head.num_classes=8', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
            'default_hooks.logger.interval=1']


def _write_config(tmp_path: Path) -> Path:
    config = tmp_path / 'paused_config.py'
    config.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "custom_imports = dict(imports=['paused_backend'], allow_failed_imports=False)\n"
        "default_hooks = dict(checkpoint=dict(\n"
        "    interval=1, max_keep_ckpts=1, backend_args=dict(backend='paused_local')))\n"
        "custom_hooks = []\n")
    return config


def _kill_while_writing(command: list, ready: Path, env: dict, log: Path) -> None:
    """Start ``command``, wait until its checkpoint write stalls, SIGKILL it."""
    with open(log, 'w') as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    try:
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert ready.exists(), 'no paused checkpoint write:\n' + log.read_text()[-3000:]
    assert process.returncode == -signal.SIGKILL


def _losses(work_dir: Path) -> list:
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    return [entry for entry in map(json.loads, logs[-1].read_text().splitlines())
            if 'loss' in entry]


def test_kill_during_a_checkpoint_write_leaves_the_previous_one_to_resume(
        tiny_market, tmp_path):
    work_dir, ready = tmp_path / 'work', tmp_path / 'paused'
    config = _write_config(tmp_path)
    # one thread: on a busy machine spinning OpenMP threads slow the steps down tenfold
    env = {**os.environ, 'PYTHONPATH': str(Path(__file__).parent), 'OMP_NUM_THREADS': '1'}
    _kill_while_writing(_command(config, work_dir, tiny_market), ready,
                        {**env, 'PAUSE_CHECKPOINT': 'epoch_2.pth', 'PAUSE_READY': str(ready)},
                        log=tmp_path / 'killed.log')

    # the previous checkpoint is complete, kept despite max_keep_ckpts=1, and named
    complete = work_dir / 'epoch_1.pth'
    assert sorted(path.name for path in work_dir.glob('*.pth')) == ['epoch_1.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(complete)
    assert find_latest_checkpoint(str(work_dir)) == str(complete)
    checkpoint = torch.load(complete, weights_only=True)
    assert checkpoint['meta']['epoch'] == 1 and 'optimizer' in checkpoint
    # the write was cut half-way, into a file that is no checkpoint
    partial = Path(ready.read_text())
    assert partial.parent == work_dir and partial.is_file()
    assert not partial.name.endswith('.pth')

    # --resume continues with epoch 2 and finishes; the stale partial file is replaced
    resumed = subprocess.run(_command(config, work_dir, tiny_market, '--resume'), cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    steps = [entry['step'] for entry in _losses(work_dir)]
    iters_per_epoch = 8 // 2  # 8 identities, 2 per batch of 8 = 2 × 4
    assert steps == list(range(iters_per_epoch + 1, 3 * iters_per_epoch + 1))
    # .train.lock: tools/train.py's work-dir lock (work_dir_lock.py), a file that stays
    assert sorted(path.name for path in work_dir.iterdir() if path.is_file()) == [
        '.train.lock', 'epoch_3.pth', 'last_checkpoint', 'paused_config.py']
    assert torch.load(work_dir / 'epoch_3.pth', weights_only=True)['meta']['epoch'] == 3
