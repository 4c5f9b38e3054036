"""``tools/train.py --amp`` end to end on CUDA: the demo config (RGA-SC re-ID, paper §4.1,
scaled down) on a tiny synthetic Market-1501 for one epoch of mixed-precision training.

``--amp`` swaps the config's optimizer wrapper for mmengine's ``AmpOptimWrapper`` (fp16
autocast, dynamic loss scale). The run must exit cleanly, log finite losses for every
iteration and record that wrapper in its log.

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

from cuda_only import CUDA_ONLY

pytestmark = CUDA_ONLY

ROOT = Path(__file__).parents[2]
DEMO_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def demo_overrides(data_root: Path) -> list[str]:
    """``--cfg-options`` for one quick epoch on the tiny tree: 8 identities in batches of
    2 × 4 (4 iterations), a log line per iteration; the Runner validates after the last
    epoch (the tiny test split, in fp32)."""
    root = str(data_root)
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', 'model.head.num_classes=8',
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=2',
            'default_hooks.logger.interval=1']


def test_train_tool_amp_on_the_demo_config(tiny_market, tmp_path):
    # the demo's attention pictures and TensorBoard writer are not what is tested here
    config = tmp_path / 'demo_amp.py'
    config.write_text(f"_base_ = ['{DEMO_CONFIG}']\n"
                      "custom_hooks = []\n"
                      "visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])\n")
    work_dir = tmp_path / 'work'
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--amp', '--work-dir', str(work_dir),
         *demo_overrides(tiny_market)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    scalar_logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert scalar_logs, f'no scalars.json under {work_dir}'
    entries = [json.loads(line) for line in scalar_logs[-1].read_text().splitlines()]
    losses = [entry for entry in entries if 'loss' in entry]
    assert [entry['step'] for entry in losses] == [1, 2, 3, 4]
    for entry in losses:
        for key in ('loss', 'loss_cls', 'loss_triplet'):
            assert math.isfinite(entry[key]), entry

    text_logs = sorted(work_dir.glob('*/*.log'))
    assert text_logs, f'no text log under {work_dir}'
    log = text_logs[-1].read_text()
    assert "type='AmpOptimWrapper'" in log and "loss_scale='dynamic'" in log, (
        'the logged config does not show the AmpOptimWrapper')
