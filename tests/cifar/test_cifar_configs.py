"""Every Table 7 row on CIFAR-10 and CIFAR-100 is a config."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

from rga_mm.apis import init_model
from rga_mm.testing import load_script
from official_params import cifar_resnet_param_count, official_param_count
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / 'configs/cifar'
MODELS = ('resnet110', 'resnet218', 'resnet110_rga-sc', 'densenet-k12-l100',
          'densenet-k12-l115', 'densenet-k12-l100_rga-sc', 'densenet-bc-k12-l100',
          'densenet-bc-k12-l115', 'densenet-bc-k12-l100_rga-sc')
SCHEDULES = {'resnet': '1xb128-64k', 'densenet': '1xb64-300e'}
# Table 7's Params column; the paper's counts are those of the CIFAR-100 networks (the
# 100-way classifier is what makes DenseNet-k12-L115 9.42 M rather than 9.30 M).
TABLE7_PARAMS = {'resnet110': 1.7e6, 'resnet218': 3.5e6, 'resnet110_rga-sc': 3.0e6,
                 'densenet-k12-l100': 7.0e6, 'densenet-k12-l115': 9.42e6,
                 'densenet-k12-l100_rga-sc': 7.3e6, 'densenet-bc-k12-l100': 0.8e6,
                 'densenet-bc-k12-l115': 0.97e6, 'densenet-bc-k12-l100_rga-sc': 0.85e6}


def config_path(model: str, dataset: str) -> Path:
    schedule = SCHEDULES['resnet' if model.startswith('resnet') else 'densenet']
    return CONFIGS / f'{model}_{schedule}_{dataset}.py'


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_there_is_one_config_per_table7_row_and_dataset():
    expected = {config_path(m, d).name for m in MODELS for d in ('cifar10', 'cifar100')}
    assert {p.name for p in CONFIGS.glob('*.py')} == expected


@pytest.mark.parametrize('model', MODELS)
@pytest.mark.parametrize('dataset', ['cifar10', 'cifar100'])
def test_config_builds_with_the_schedule_it_states(model, dataset):
    cfg = Config.fromfile(config_path(model, dataset))
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.head.num_classes == int(dataset.removeprefix('cifar'))
    assert cfg.train_dataloader.dataset.data_root == f'data/{dataset}'
    assert [t['type'] for t in cfg.train_pipeline] == ['RandomCrop', 'RandomFlip', 'PackInputs']
    assert cfg.train_pipeline[0]['padding'] == 4
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (0.1, 0.9, 1e-4)
    if model.startswith('resnet'):
        assert cfg.train_dataloader.batch_size == 128 and cfg.train_cfg.max_iters == 64000
        assert cfg.param_scheduler[-1].milestones == [32000, 48000]
    else:
        assert cfg.train_dataloader.batch_size == 64 and cfg.train_cfg.max_epochs == 300
        assert optimizer.nesterov and cfg.param_scheduler[-1].milestones == [150, 225]
    if dataset == 'cifar100':  # the params of the CIFAR-100 networks are Table 7's column
        params = _count(init_model(cfg))
        assert params == pytest.approx(TABLE7_PARAMS[model], rel=0.03)


def test_table7_params_of_the_four_headline_models_within_3_percent():
    for model, paper in (('resnet110', 1.7e6), ('resnet110_rga-sc', 3.0e6),
                         ('densenet-bc-k12-l100', 0.8e6),
                         ('densenet-bc-k12-l100_rga-sc', 0.85e6)):
        params = _count(init_model(config_path(model, 'cifar100')))
        assert abs(params - paper) <= 0.03 * paper, (model, params)


def test_get_flops_reproduces_the_params_column():
    """tools/analysis_tools/get_flops.py, run in this process."""
    config = config_path('resnet110_rga-sc', 'cifar100')
    result = run_in_process(load_script(ROOT / 'tools/analysis_tools/get_flops.py'), config)
    assert result.returncode == 0, result.stderr
    params = int(re.search(r'^Params: (\d+)', result.stdout, re.M).group(1))
    assert 'Input shape: (3, 32, 32)' in result.stdout
    # ResNet-110 for 100 classes (1 733 812, Table 7's 1.7 M) and the official RGA-SC module
    # on its first stage's (16, 32×32) map with s1 = s2 = 4; 3 063 584 is that sum, the
    # 3.0 M of Table 7
    expected = cifar_resnet_param_count(110, 100) + official_param_count(16, 32 * 32, 4)
    assert params == _count(init_model(config)) == expected == 3063584
    assert cifar_resnet_param_count(110, 100) == pytest.approx(1.7e6, rel=0.03)
    assert params == pytest.approx(3.0e6, rel=0.03)
