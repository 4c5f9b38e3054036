"""Resuming a CIFAR run is bit-exact: 4 epochs straight = 2 + ``--resume`` to 4, and 8
iterations of a 2-process run straight = 4 + ``--resume`` to 8.

The DenseNet-BC-100 + RGA-SC CIFAR-10 config (random crop and flip) on 16 generated training
images, 2 iterations an epoch, validating every 2 epochs. The straight run and the first
half load their data in the main process, the resume (a new process, which has nothing but
the files the first half left) in 2 persistent workers: every image's crop and flip depend
on (seed, epoch, draw) alone (``rga_mm.DrawSeededSampler`` and the CIFAR datasets), so every
tensor of the final model and optimizer state must be equal, max |Δ| = 0. With mmengine's
``DefaultSampler`` the augmentations come from the workers' generators, which a resumed run
starts from the seed again. Every run computes on one thread.

The 2-process run (gloo, the iteration-based ResNet schedule shrunk to depth 20) saves
``iter_4.pth`` where it also validates: mmengine's checkpoint hook saved each rank's own
BatchNorm statistics before its ``SyncBuffersHook`` averaged them for the validation, so the
resumed run went on from rank 0's statistics and the straight one from the averaged ones;
``rga_mm.SyncBuffersHook`` averages them before the checkpoint.
"""
import socket
import sys
from pathlib import Path

import pytest
import torch

from rga_mm.testing import checkpoint_tensors
from cifar_files import write_cifar
from tool_runs import run_checked, run_checked_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/cifar/densenet-bc-k12-l100_rga-sc_1xb64-300e_cifar10.py'
RESNET_CONFIG = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
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


def _final_state(work_dir: Path, unit: str = 'epoch', step: int = 4
                 ) -> dict[str, torch.Tensor]:
    """The model's state dict and the optimizer's state tensors after ``unit`` ``step``."""
    checkpoint = torch.load(work_dir / f'{unit}_{step}.pth', weights_only=True)
    assert checkpoint['meta'][unit] == step
    return checkpoint_tensors(checkpoint)


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _train_on_two_processes(data_root: Path, work_dir: Path, max_iters: int,
                            resume: bool = False) -> None:
    loaders = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
               for key in (f'dataset.data_root={data_root}', 'dataset.verify_md5=False',
                           'batch_size=16', 'num_workers=0', 'persistent_workers=False')]
    run_checked('bash', 'tools/dist_train.sh', str(RESNET_CONFIG), '2', '--work-dir',
                str(work_dir), *(['--resume'] if resume else []), '--cfg-options', *loaders,
                'model.backbone.backbone.depth=20', 'randomness.seed=0',
                f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=4',
                'default_hooks.checkpoint.interval=4',
                env={'PYTHON': sys.executable, 'PORT': str(_free_port()),
                     'OMP_NUM_THREADS': '1'})


def test_a_resumed_two_process_run_keeps_the_averaged_batch_norm_statistics(tmp_path):
    data_root = write_cifar(tmp_path / 'cifar10', 10, num_train=64, num_test=16)
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    _train_on_two_processes(data_root, straight, max_iters=8)
    _train_on_two_processes(data_root, resumed, max_iters=4)
    _train_on_two_processes(data_root, resumed, max_iters=8, resume=True)

    expected, actual = _final_state(straight, 'iter', 8), _final_state(resumed, 'iter', 8)
    assert actual.keys() == expected.keys()
    assert sum('running_mean' in name for name in expected) > 20
    differing = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert not differing, f'{len(differing)} of {len(expected)} tensors differ: {differing[:5]}'
