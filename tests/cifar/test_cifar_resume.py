"""Resuming an epoch-based CIFAR run is bit-exact: 4 epochs straight = 2 + ``--resume`` to 4.

The DenseNet-BC-100 + RGA-SC CIFAR-10 config (random crop and flip) on 16 generated training
images, 2 iterations an epoch, validating every 2 epochs. The straight run and the first
half load their data in the main process, the resume (a new process, which has nothing but
the files the first half left) in 2 persistent workers: every image's crop and flip depend
on (seed, epoch, draw) alone (``rga_mm.DrawSeededSampler`` and the CIFAR datasets), so every
tensor of the final model and optimizer state must be equal, max |Δ| = 0. With mmengine's
``DefaultSampler`` the augmentations come from the workers' generators, which a resumed run
starts from the seed again. Every run computes on one thread.
"""
import sys
from pathlib import Path

import pytest
import torch

from cifar_files import write_cifar
from tool_runs import run_checked, run_checked_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/cifar/densenet-bc-k12-l100_rga-sc_1xb64-300e_cifar10.py'
pytestmark = pytest.mark.slow


def _overrides(data_root: Path, max_epochs: int, num_workers: int) -> list[str]:
    loaders = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
               for key in (f'dataset.data_root={data_root}', 'dataset.verify_md5=False',
                           'batch_size=8')]
    return ['--cfg-options', *loaders, f'train_dataloader.num_workers={num_workers}',
            f'train_dataloader.persistent_workers={num_workers > 0}',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'randomness.seed=0', f'train_cfg.max_epochs={max_epochs}',
            'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2']


def _final_state(work_dir: Path) -> dict[str, torch.Tensor]:
    """The model's state dict and the optimizer's state tensors after epoch 4."""
    checkpoint = torch.load(work_dir / 'epoch_4.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == 4
    tensors = {f'model.{name}': tensor for name, tensor in checkpoint['state_dict'].items()}
    for param, state in checkpoint['optimizer']['state'].items():
        tensors.update({f'optimizer.{param}.{name}': value for name, value in state.items()
                        if isinstance(value, torch.Tensor)})
    return tensors


def test_a_resumed_densenet_run_ends_with_the_weights_of_the_straight_run(tmp_path):
    data_root = write_cifar(tmp_path / 'cifar10', 10, num_train=16, num_test=8)
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_checked_in_process('tools/train.py', CONFIG, '--work-dir', straight,
                               *_overrides(data_root, max_epochs=4, num_workers=0))
        run_checked_in_process('tools/train.py', CONFIG, '--work-dir', resumed,
                               *_overrides(data_root, max_epochs=2, num_workers=0))
    finally:
        torch.set_num_threads(threads)
    run_checked(sys.executable, 'tools/train.py', str(CONFIG), '--work-dir', str(resumed),
                '--resume', *_overrides(data_root, max_epochs=4, num_workers=2),
                env={'OMP_NUM_THREADS': '1'})

    expected, actual = _final_state(straight), _final_state(resumed)
    assert actual.keys() == expected.keys() and len(expected) > 500
    assert any('momentum_buffer' in name for name in expected)  # SGD's state compared too
    differing = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert not differing, f'{len(differing)} of {len(expected)} tensors differ: {differing[:5]}'
