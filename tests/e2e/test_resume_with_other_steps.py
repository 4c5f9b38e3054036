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


@pytest.mark.slow
def test_a_run_resumed_with_another_batch_size_resumes_again(tiny_market, tmp_path, capsys):
    train = tool('tools/train.py')

    def resume(max_epochs: int) -> None:
        train.main([str(CONFIG), '--work-dir', str(tmp_path), '--resume',
                    *demo_overrides(tiny_market, max_epochs), 'train_dataloader.batch_size=16'])

    train.main([str(CONFIG), '--work-dir', str(tmp_path), *demo_overrides(tiny_market, 2)])
    resume(3)
    assert re.search(
        r'^notice: \S+epoch_2\.pth was trained by 1 process × 8 images a batch \(8 a step\), '
        r'this run by 1 process × 16 \(16 a step\): it goes on at the learning rate restored '
        r'from the checkpoint, with larger steps', capsys.readouterr().out, re.MULTILINE)
    saved = torch.load(tmp_path / 'epoch_3.pth', weights_only=True)['meta']
    assert (saved['epoch'], saved['iter'], saved['epoch_end'], saved['world_size']) == (
        3, 10, True, 1)
    resume(4)
    assert torch.load(tmp_path / 'epoch_4.pth', weights_only=True)['meta']['iter'] == 12


def test_a_refused_run_leaves_no_work_dir_it_made(tiny_market, tmp_path):
    """The work dir is made for the lock before the run is checked; a run stopped before
    writing anything there (here: a classifier too small for the training identities)
    removes it again."""
    work_dir = tmp_path / 'new' / 'run'
    with pytest.raises(SystemExit, match='identities'):
        tool('tools/train.py').main([str(CONFIG), '--work-dir', str(work_dir),
                                     *demo_overrides(tiny_market, 1), 'model.head.num_classes=2'])
    assert not work_dir.exists()


def test_auto_scale_lr_scales_by_the_images_of_a_step(tiny_market, tmp_path, capsys):
    """mmengine scales the learning rate by (processes × batch size) / base_batch_size; a
    config without a base batch size is named with the option to set."""
    train = tool('tools/train.py')
    argv = [str(CONFIG), '--work-dir', str(tmp_path), '--auto-scale-lr',
            *demo_overrides(tiny_market, 1)]
    train.main([*argv, 'auto_scale_lr.base_batch_size=32'])
    assert ('LR is set based on batch size of 32 and the current batch size is 8. Scaling the '
            'original LR by 0.25.') in capsys.readouterr().out
    saved = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert saved['optimizer']['param_groups'][0]['initial_lr'] == pytest.approx(8e-4 * 0.25)
    with pytest.raises(SystemExit) as stopped:
        train.main([*argv, 'auto_scale_lr=None'])
    assert str(stopped.value) == (
        f'--auto-scale-lr needs auto_scale_lr.base_batch_size, the images a step (all '
        f'processes) that the config\'s learning rate is meant for, which {CONFIG} does not '
        f'set: pass --cfg-options auto_scale_lr.base_batch_size=N')
