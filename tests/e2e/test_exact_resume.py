"""Resuming is bit-exact: 4 epochs straight = 2 epochs + ``--resume`` to 4.

The real tools/train.py on a tiny synthetic Market-1501 with the demo config (its seed and
randomness settings; random flip, crop and erasing on), shrunk to 4 iterations an epoch.
Every tensor of the final model and optimizer state must equal those of 4 straight epochs
with no data-loader workers, max |Δ| = 0, whether the interrupted run loads its data in the
main process or in 2 (persistent) workers: every image's augmentations depend on
(seed, epoch, draw) alone, not on the worker that loads it nor on the interruption.
The straight run and the first half that loads in the main process call the tool in this
process (DataLoader workers forked from it take seconds each to shut down, so the first half
with workers is a process of its own); each resume is a new process, which has nothing but
the files the first half left. All of them compute on one thread, as the same model computes
the same bits only with the same split of its reductions.
The last test checks that rule on single images, without training.
"""
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from rga_mm.datasets import Market1501
from rga_mm.datasets.augmentation_seed import SampleIndex
from rga_mm.testing import checkpoint_tensors, load_script
from demo_runs import demo_overrides, tool
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
EPOCHS = 4


def _train_argv(data_root: Path, work_dir: Path, num_workers: int, max_epochs: int,
                resume: bool = False) -> list[str]:
    """tools/train.py's arguments, ending in ``--cfg-options`` pairs."""
    root = str(data_root)
    return [
        str(CONFIG), '--work-dir', str(work_dir), *(['--resume'] if resume else []),
        '--cfg-options',
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=8', f'train_dataloader.num_workers={num_workers}',
        f'train_dataloader.persistent_workers={num_workers > 0}', 'model.head.num_classes=8',
        f'train_cfg.max_epochs={max_epochs}', f'train_cfg.val_interval={EPOCHS + 1}',
        'custom_hooks=[]']  # checkpoints at the end only (save_last)


def _train_here(data_root: Path, work_dir: Path, num_workers: int, max_epochs: int) -> None:
    """tools/train.py in this process, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tool('tools/train.py').main(_train_argv(data_root, work_dir, num_workers, max_epochs))
    finally:
        torch.set_num_threads(threads)


def _train_in_new_process(data_root: Path, work_dir: Path, num_workers: int, max_epochs: int,
                          resume: bool = False) -> None:
    """tools/train.py in a fresh interpreter on one thread."""
    command = [sys.executable, 'tools/train.py',
               *_train_argv(data_root, work_dir, num_workers, max_epochs, resume)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _final_state(work_dir: Path) -> dict[str, torch.Tensor]:
    """The model's state dict and the optimizer's state tensors of the last checkpoint."""
    checkpoint = torch.load(work_dir / f'epoch_{EPOCHS}.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == EPOCHS
    return checkpoint_tensors(checkpoint)


def _assert_bit_equal(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]):
    assert actual.keys() == expected.keys()
    differing = [name for name in expected if not torch.equal(actual[name], expected[name])]
    largest = max(((actual[name].double() - expected[name].double()).abs().max().item(), name)
                  for name in differing) if differing else None
    assert not differing, (f'{len(differing)} of {len(expected)} tensors differ, largest '
                           f'|Δ| {largest}')


@pytest.fixture(scope='module')
def straight(tiny_market, tmp_path_factory) -> dict[str, torch.Tensor]:
    """The final state of 4 uninterrupted epochs, data loaded in the main process."""
    work_dir = tmp_path_factory.mktemp('straight')
    _train_here(tiny_market, work_dir, num_workers=0, max_epochs=EPOCHS)
    return _final_state(work_dir)


@pytest.mark.slow
@pytest.mark.parametrize('num_workers', [0, 2])
def test_resumed_run_ends_with_the_weights_of_the_straight_run(
        straight, tiny_market, tmp_path, num_workers):
    first_half = _train_here if num_workers == 0 else _train_in_new_process
    first_half(tiny_market, tmp_path, num_workers, EPOCHS // 2)
    _train_in_new_process(tiny_market, tmp_path, num_workers, EPOCHS, resume=True)
    resumed = _final_state(tmp_path)
    assert len(resumed) > 100 and 'optimizer.0.exp_avg' in resumed  # Adam's moments
    _assert_bit_equal(resumed, straight)


@pytest.mark.slow
def test_a_resume_that_would_not_continue_the_run_is_refused(tiny_market, tmp_path):
    """mmengine restores the optimizer, the schedulers and the seed over the config's: a
    changed learning rate or milestone would be ignored and a changed seed would give
    neither run; a partial load cannot take the optimizer state. A config without a seed
    takes the run's (16, the demo config's). A refused run leaves the work dir as it was:
    no run folder of its own, the run's saved config unchanged."""
    train = load_script(ROOT / 'tools/train.py', 'train_tool')
    train.main(_train_argv(tiny_market, tmp_path, 0, EPOCHS // 2))  # in this process
    checkpoint = tmp_path / f'epoch_{EPOCHS // 2}.pth'
    work_dir_before = sorted(path.name for path in tmp_path.iterdir())
    saved_config = (tmp_path / CONFIG.name).read_bytes()
    resume = _train_argv(tiny_market, tmp_path, 0, EPOCHS, resume=True)
    for change, said in (
            ('optim_wrapper.optimizer.lr=0.1', 'optim_wrapper.optimizer.lr 0.0008 → 0.1'),
            ('param_scheduler.1.milestones=[2]', 'param_scheduler.1.milestones [60, 72] → [2]')):
        with pytest.raises(SystemExit, match=re.escape(
                f'--resume restores the optimizer and learning-rate schedule saved in '
                f'{checkpoint}, which would overwrite these changes to its run\'s config: '
                f'{said}; resume without them, or start a new run from its weights with '
                f'--cfg-options load_from={checkpoint}')):
            train.main(resume + [change])
    with pytest.raises(SystemExit, match=re.escape(
            f'{checkpoint} was trained with seed 16 and randomness.seed is 5 here')):
        train.main(resume + ['randomness.seed=5'])
    with pytest.raises(SystemExit, match=re.escape(
            f'--partial-load cannot resume {checkpoint}: resuming restores its optimizer')):
        train.main(resume + ['--partial-load'])
    cfg = train.build_config(train.parse_args(resume + ['randomness.seed=None']))
    train.prepare_resume(cfg, torch.load(checkpoint, weights_only=True), partial_load=False)
    assert cfg.randomness.seed == 16
    # another model's checkpoint is named as such before any setting is compared
    other = torch.load(checkpoint, weights_only=True)
    other['state_dict'] = {'encoder.weight': torch.zeros(2, 2)}
    other_path = tmp_path / 'other' / 'epoch_2.pth'
    other_path.parent.mkdir()
    torch.save(other, other_path)
    with pytest.raises(SystemExit, match=re.escape(
            f'checkpoint {other_path} does not fit the model built from the config')):
        train.main([str(CONFIG), '--work-dir', str(other_path.parent), '--resume',
                    str(other_path), *resume[resume.index('--cfg-options'):],
                    'randomness.seed=5'])
    assert sorted(path.name for path in other_path.parent.iterdir()) == [
        '.train.lock', other_path.name]  # the lock stays, as after every run
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(work_dir_before + ['other'])
    assert (tmp_path / CONFIG.name).read_bytes() == saved_config


@pytest.mark.slow
def test_a_resume_inside_an_epoch_or_into_another_model_is_refused(tiny_market, tmp_path):
    """Checkpoints saved by iteration in an epoch-based run of 4 iterations an epoch: iter_3
    inside the first epoch, iter_8 at the end of the second, which mmengine records as epoch
    1. The epoch-based loop would restart each one's epoch from its first batch, so both are
    refused, and so is another RGA mode (same tensors); tools/test.py names the mode and
    tests."""
    train = tool('tools/train.py')
    train.main([str(CONFIG), '--work-dir', str(tmp_path),  # in this process
                *demo_overrides(tiny_market, max_epochs=2),
                'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=3'])
    saved = sorted(path.name for path in tmp_path.glob('*.pth'))
    assert saved == ['iter_3.pth', 'iter_6.pth', 'iter_8.pth']
    longer = demo_overrides(tiny_market, max_epochs=4)
    latest = (tmp_path / 'last_checkpoint').read_text().strip()
    assert latest == str(tmp_path / 'iter_8.pth')
    for resume, epoch, iteration, first in ((['--resume'], 1, 8, 5),
                                            (['--resume', tmp_path / 'iter_3.pth'], 0, 3, 1)):
        path = resume[-1] if len(resume) == 2 else latest
        with pytest.raises(SystemExit, match='^' + re.escape(
                f'{path} records epoch {epoch} and iteration {iteration}, but this run\'s '
                f'epoch-based loop resumes it at the first batch of epoch {epoch + 1}, '
                f'iteration {first} here (4 iterations an epoch), while counting on from '
                f'iteration {iteration + 1}: it would not continue the run; resume from a '
                f'checkpoint saved at the end of an epoch (epoch_N.pth), as '
                f'default_hooks.checkpoint.by_epoch=True saves them') + '$'):
            train.main([str(CONFIG), '--work-dir', str(tmp_path), *map(str, resume), *longer])
    mode = 'model.backbone.attentions.layer1.mode'
    with pytest.raises(SystemExit, match='^' + re.escape(
            f'--resume would train the weights of {latest} on in another model than its '
            f'run\'s, changed in the config: {mode} None → \'CS\'; resume without these '
            f'changes, or start a new run from its weights with --cfg-options '
            f'load_from={latest}') + '$'):
        train.main([str(CONFIG), '--work-dir', str(tmp_path), '--resume', *longer,
                    f'{mode}=CS'])
    assert sorted(path.name for path in tmp_path.glob('*.pth')) == saved
    tested = run_in_process(tool('tools/test.py'), CONFIG, latest, '--work-dir',
                            tmp_path / 'test', *longer, f'{mode}=CS')
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert (f"notice: {latest} was trained with other model settings than the config's, "
            f"which it is tested with: {mode} None → 'CS'") in tested.stdout.splitlines()


def test_an_images_augmentations_depend_on_seed_epoch_and_draw_only(tiny_market):
    """Whatever the global random state before, the same (seed, epoch, draw) gives the same
    flip, crop and erasing (also after the trip to a worker process), another draw of the
    same image other ones, and the global random state is left as it was."""
    dataset = Market1501(data_root=str(tiny_market), split='train',
                         pipeline=Config.fromfile(CONFIG).train_pipeline)
    draw = SampleIndex(3, seed=16, epoch=1, draw=5)
    np.random.seed(0)
    first = dataset[draw]['inputs']
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    state = random.getstate(), np.random.get_state()[1], torch.get_rng_state()
    assert torch.equal(dataset[pickle.loads(pickle.dumps(draw))]['inputs'], first)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])
    others = [dataset[SampleIndex(3, *key)]['inputs']
              for key in [(16, 1, 6), (16, 2, 5), (17, 1, 5)]]  # (seed, epoch, draw)
    assert not any(torch.equal(other, first) for other in others)
