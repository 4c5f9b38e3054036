"""CIFAR-10 end to end through the real tools/train.py and tools/test.py, called in this
process (their command lines run as subprocesses in the re-ID end-to-end tests).

Generated pickles in the official format (64 train / 32 test images) and the ResNet-110 +
RGA-SC config shrunk to a few iterations; the md5 check is turned off for the generated
files, everything else (mmpretrain's loader, pipelines, preprocessor) is the config's own.
"""
import json
import pickle
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch

from rga_mm.apis import init_model
from cifar_files import write_cifar
from tool_runs import run_checked_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
pytestmark = pytest.mark.slow


def _overrides(data_root: Path, iters: int) -> list[str]:
    options = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader',
                                                'test_dataloader')
               for key in (f'dataset.data_root={data_root}', 'dataset.verify_md5=False',
                           'num_workers=0', 'persistent_workers=False', 'batch_size=16')]
    return ['--cfg-options', *options, 'model.backbone.backbone.depth=20',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            'default_hooks.logger.interval=1', f'default_hooks.checkpoint.interval={iters}']


def test_train_then_test_resnet_rga_sc_on_generated_cifar10(tmp_path):
    data_root = write_cifar(tmp_path / 'cifar10', 10, num_train=64, num_test=32)
    work_dir = tmp_path / 'work'
    # the config plus the attention hook, logging through mmpretrain's visualizer
    with_hook = tmp_path / 'with_attention_hook.py'
    with_hook.write_text(f"_base_ = ['{CONFIG}']\ncustom_hooks = [dict(type="
                         f"'rga_mm.AttentionVisualizationHook', interval=2, "
                         f"num_images=2, panel_height=64)]\n")
    run_checked_in_process('tools/train.py', with_hook, '--work-dir', work_dir,
                           *_overrides(data_root, iters=4))
    # CIFAR items have no file: named by validation index (0 and 31 of 32); input, layer1
    # gate and CAM panels of 64×64 under 30 title pixels
    images = sorted(work_dir.glob('*/vis_data/vis_image/*.png'))
    assert [p.name for p in images] == [f'attention_val{i}_{step}.png'
                                        for i in (0, 31) for step in (2, 4)]
    assert all(mmcv.imread(str(p)).shape == (94, 3 * 64 + 2 * 4, 3) for p in images)
    checkpoint = work_dir / 'iter_4.pth'
    state = torch.load(checkpoint, weights_only=False, map_location='cpu')
    assert state['meta']['iter'] == 4
    # RGA-SC after layer1 is part of the trained model
    assert any(k.startswith('backbone.attentions.layer1.') for k in state['state_dict'])
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    entries = [json.loads(line) for line in logs]
    assert [e['step'] for e in entries if 'loss' in e] == [1, 2, 3, 4]
    # 0.01 warm-up of He et al. for the first 400 iterations
    assert all(e['lr'] == pytest.approx(0.01) for e in entries if 'loss' in e)
    assert any('accuracy/top1' in e for e in entries)

    out = tmp_path / 'metrics.json'
    run_checked_in_process('tools/test.py', CONFIG, checkpoint, '--work-dir', tmp_path / 'test',
                           '--out', out, *_overrides(data_root, iters=4))
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['accuracy/top1'] <= 100
    assert metrics['accuracy/top1'] <= metrics['accuracy/top5'] <= 100
    # the same checkpoint in this process on the generated test images, read from the pickle
    # (uint8 rows of R, G, B planes), normalised with the config's RGB mean and std
    with open(data_root / 'cifar-10-batches-py/test_batch', 'rb') as file:
        test_batch = pickle.load(file, encoding='latin1')
    labels = torch.tensor(test_batch['labels'])
    images = torch.from_numpy(test_batch['data'].reshape(-1, 3, 32, 32).astype(np.float32))
    mean = torch.tensor([125.307, 122.961, 113.8575])[:, None, None]
    std = torch.tensor([51.5865, 50.847, 51.255])[:, None, None]
    model = init_model(CONFIG, str(checkpoint), cfg_options={'model.backbone.backbone.depth': 20})
    with torch.no_grad():
        logits = model((images - mean) / std, mode='tensor')
    assert logits.shape == (32, 10)
    top1_hits = int((logits.argmax(1) == labels).sum())
    top5_hits = int((logits.topk(5, dim=1).indices == labels[:, None]).any(1).sum())
    assert metrics['accuracy/top1'] == pytest.approx(100 * top1_hits / 32, abs=1e-9)
    assert metrics['accuracy/top5'] == pytest.approx(100 * top5_hits / 32, abs=1e-9)
