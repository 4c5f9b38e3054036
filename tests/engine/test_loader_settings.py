"""A data loader's batch size and number of workers are checked before the Runner builds
anything (``rga_mm.engine.launch.loader_settings``): PyTorch's DataLoader refuses them with a
traceback when a loop first builds its loader, for validation epochs into a run."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from rga_mm.engine.launch.loader_settings import check_loader_settings
from rga_mm.errors import ConfigError
from rga_mm.testing import load_script
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def _config(**loaders) -> Config:
    """Data loaders of batch 2 and 1 worker but for the ``settings`` given (None: none)."""
    return Config({loader: None if settings is None else
                   {'batch_size': 2, 'num_workers': 1, **settings}
                   for loader, settings in loaders.items()})


@pytest.mark.parametrize('batch_size', [0, -1, 1.5, True, '4'])
def test_a_batch_size_that_is_no_positive_integer_is_refused(batch_size):
    with pytest.raises(ConfigError, match=f'^val_dataloader.batch_size is {batch_size!r}, but '
                                          f'a batch holds a whole number of samples'):
        check_loader_settings(_config(train_dataloader={},
                                      val_dataloader=dict(batch_size=batch_size)))


@pytest.mark.parametrize('num_workers', [-1, 0.5, None])
def test_a_number_of_workers_below_zero_or_not_an_integer_is_refused(num_workers):
    with pytest.raises(ConfigError, match=f'^test_dataloader.num_workers is {num_workers!r}: '
                                          f'set it to the number of processes'):
        check_loader_settings(_config(test_dataloader=dict(num_workers=num_workers)))


def test_good_settings_pass_and_a_batch_sampler_checks_its_own_batch_size():
    check_loader_settings(_config(train_dataloader=dict(batch_size=1, num_workers=0),
                                  val_dataloader={}, test_dataloader=None))
    check_loader_settings(_config(train_dataloader=dict(
        batch_size=0, batch_sampler=dict(type='IdentityBatchSampler'))))
    with pytest.raises(ConfigError, match='train_dataloader.num_workers is -1'):
        check_loader_settings(_config(train_dataloader=dict(
            num_workers=-1, batch_sampler=dict(type='IdentityBatchSampler'))))


def test_the_test_tool_refuses_a_zero_batch_size_in_one_sentence(tiny_market, tmp_path):
    """Before the Runner is built: the checkpoint is only read (its weights fit no model)."""
    checkpoint = tmp_path / 'weights.pth'
    torch.save(dict(meta={}, state_dict=dict(weight=torch.zeros(1))), checkpoint)
    result = run_in_process(
        load_script(ROOT / 'tools/test.py', 'test_tool'), CONFIG, checkpoint, '--work-dir',
        tmp_path / 'work', '--cfg-options', f'test_dataloader.dataset.data_root={tiny_market}',
        'test_dataloader.batch_size=0')
    assert (result.returncode, result.stderr.strip()) == (
        1, 'test_dataloader.batch_size is 0, but a batch holds a whole number of samples, at '
           'least 1: set it to a positive integer')
