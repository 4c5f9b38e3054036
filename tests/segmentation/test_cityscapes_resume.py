"""Resuming a Cityscapes run is bit-exact: 4 iterations straight = 2 + ``--resume`` to 4.

The tiny PSPNet + RGA-SC of ``tiny_cityscapes`` (random crop, flip and photometric
distortion on; the PSP and FCN heads' dropout of 0.1) with the hooks of the shipped config,
whose ``IterationSeedHook`` draws each iteration's dropout from (seed, iteration): without
it the resumed run drops other units from its first iteration on. The straight run
validates after iteration 2, where the other run stops; the resume is a new process, which
has nothing but the files the first half left. Every run computes on one thread, as the
same model computes the same bits only with the same split of its reductions.
"""
import sys

import pytest
import torch
from mmengine.config import Config

from rga_mm.testing import checkpoint_tensors
from tiny_cityscapes import CONFIG, ROOT, write_tiny_setup
from tool_runs import run_checked, run_checked_in_process

pytestmark = pytest.mark.slow


def _final_state(work_dir) -> dict[str, torch.Tensor]:
    """The model's state dict and the optimizer's state tensors after iteration 4."""
    checkpoint = torch.load(work_dir / 'iter_4.pth', weights_only=True)
    assert checkpoint['meta']['iter'] == 4
    return checkpoint_tensors(checkpoint)


def test_a_resumed_cityscapes_run_ends_with_the_weights_of_the_straight_run(tmp_path):
    _, tiny_config = write_tiny_setup(tmp_path)
    config = tmp_path / 'tiny_with_shipped_hooks.py'
    cfg = Config.fromfile(str(tiny_config))
    cfg.custom_hooks = Config.fromfile(str(CONFIG)).custom_hooks
    assert any(hook['type'] == 'rga_mm.IterationSeedHook' for hook in cfg.custom_hooks)
    cfg.randomness = dict(seed=0)
    cfg.train_cfg.max_iters = 4
    cfg.dump(str(config))
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_checked_in_process('tools/train.py', config, '--work-dir', straight)
        run_checked_in_process('tools/train.py', config, '--work-dir', resumed,
                               '--cfg-options', 'train_cfg.max_iters=2')
    finally:
        torch.set_num_threads(threads)
    run_checked(sys.executable, 'tools/train.py', str(config), '--work-dir', str(resumed),
                '--resume', env={'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)})

    expected, actual = _final_state(straight), _final_state(resumed)
    assert actual.keys() == expected.keys() and len(expected) > 100
    assert any('momentum_buffer' in name for name in expected)  # SGD's state compared too
    differing = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert not differing, f'{len(differing)} of {len(expected)} tensors differ: {differing[:5]}'
