"""Resuming with steps of another size, as a run moved to other machines is: the real
tools/train.py on the tiny synthetic Market-1501 with the demo config, in this process.

A run of 8 images a batch (4 iterations an epoch) for 2 epochs, resumed at 16 a batch (2 an
epoch) to epoch 3, is noted and trains on; its epoch_3.pth, at iteration 8 + 2 = 10, ends an
epoch of neither length, and resuming it again must go on to epoch 4.
"""
import re

import pytest
import torch

from demo_runs import CONFIG, demo_overrides, tool
from tool_runs import run_in_process


def _train(tiny_market, work_dir, max_epochs: int, *options: str):
    """tools/train.py in this process (its logger made before the output is captured, so
    that no later test meets a logger writing to a closed capture), on the demo config
    shrunk to the tiny tree; ``options`` are flags, then ``--cfg-options`` pairs after the
    demo's."""
    flags = [option for option in options if option.startswith('--')]
    pairs = [option for option in options if not option.startswith('--')]
    return run_in_process(tool('tools/train.py'), CONFIG, '--work-dir', work_dir, *flags,
                          *demo_overrides(tiny_market, max_epochs), *pairs)


@pytest.mark.slow
def test_a_run_resumed_with_another_batch_size_resumes_again(tiny_market, tmp_path):
    assert _train(tiny_market, tmp_path, 2).returncode == 0
    resumed = _train(tiny_market, tmp_path, 3, '--resume', 'train_dataloader.batch_size=16')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(
        r'^notice: \S+epoch_2\.pth was trained by 1 process × 8 images a batch \(8 a step\), '
        r'this run by 1 process × 16 \(16 a step\): it goes on at the learning rate restored '
        r'from the checkpoint, with larger steps', resumed.stdout, re.MULTILINE)
    saved = torch.load(tmp_path / 'epoch_3.pth', weights_only=True)['meta']
    assert (saved['epoch'], saved['iter'], saved['epoch_end'], saved['world_size']) == (
        3, 10, True, 1)
    again = _train(tiny_market, tmp_path, 4, '--resume', 'train_dataloader.batch_size=16')
    assert again.returncode == 0, again.stderr[-3000:]
    assert torch.load(tmp_path / 'epoch_4.pth', weights_only=True)['meta']['iter'] == 12


def test_a_refused_run_leaves_no_work_dir_it_made(tiny_market, tmp_path):
    """The work dir is made for the lock before the run is checked; a run stopped before
    writing anything there (here: a classifier too small for the training identities)
    removes it again."""
    work_dir = tmp_path / 'new' / 'run'
    refused = _train(tiny_market, work_dir, 1, 'model.head.num_classes=2')
    assert refused.returncode == 1 and 'identities' in refused.stderr
    assert not work_dir.exists()


def test_auto_scale_lr_scales_by_the_images_of_a_step(tiny_market, tmp_path):
    """mmengine scales the learning rate by (processes × batch size) / base_batch_size; a
    config without a base batch size is named with the option to set."""
    scaled = _train(tiny_market, tmp_path, 1, '--auto-scale-lr',
                    'auto_scale_lr.base_batch_size=32')
    assert scaled.returncode == 0, scaled.stderr[-3000:]
    saved = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert saved['optimizer']['param_groups'][0]['initial_lr'] == pytest.approx(8e-4 * 8 / 32)
    refused = _train(tiny_market, tmp_path / 'other', 1, '--auto-scale-lr', 'auto_scale_lr=None')
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'--auto-scale-lr needs auto_scale_lr.base_batch_size, the images a step (all '
        f'processes) that the config\'s learning rate is meant for, which {CONFIG} does not '
        f'set: pass --cfg-options auto_scale_lr.base_batch_size=N')
