"""The config a run saves in its work dir never overwrites the config file the run reads,
nor, for a test run, a training run's saved config, and a training run saves it only when
its training or testing starts; otherwise it is mmengine's dump. A run that fails to build
or is refused before it starts leaves no run folder, and no work dir it made."""
import itertools
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch import nn

from rga_mm.engine.launch.saved_config import (
    ConfigKeepingRunner,
    ConfigKeepingTestRunner,
    ConfigKeepingTrainRunner,
    discarded_on_error,
)

RUN_NAMES = itertools.count()


class TinyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.linear(inputs)


def _run(runner_class, config_file, work_dir, **changes):
    """A Runner of ``runner_class`` built on the config read from ``config_file``, changed
    in memory by ``changes`` as a tool changes it (``load_from``, an evaluator)."""
    cfg = Config.fromfile(str(config_file))
    cfg.merge_from_dict(changes)
    return runner_class(model=TinyModel(), work_dir=str(work_dir), cfg=cfg,
                        experiment_name=f'saved_config_{next(RUN_NAMES)}')


@pytest.mark.parametrize('runner_class', [ConfigKeepingRunner, ConfigKeepingTestRunner])
def test_the_config_file_a_run_reads_in_its_work_dir_is_kept(runner_class, tmp_path):
    run_config = tmp_path / 'work' / 'my_run.py'
    run_config.parent.mkdir()
    run_config.write_text("num_classes = 4\nwork_dir = 'work'\n")
    before = run_config.read_bytes()
    runner = _run(runner_class, run_config, run_config.parent, load_from='epoch_1.pth')
    assert run_config.read_bytes() == before
    recorded = Config.fromfile(f'{runner.log_dir}/vis_data/config.py')
    assert recorded.load_from == 'epoch_1.pth' and recorded.num_classes == 4


def test_a_test_run_keeps_a_training_runs_config_which_a_training_run_replaces(tmp_path):
    work_dir, source = tmp_path / 'work', tmp_path / 'configs' / 'my_run.py'
    source.parent.mkdir()
    source.write_text('num_classes = 100\n')
    _run(ConfigKeepingRunner, source, work_dir, num_classes=4)  # the training run
    saved = work_dir / 'my_run.py'
    assert Config.fromfile(str(saved)).num_classes == 4
    _run(ConfigKeepingTestRunner, source, work_dir, num_classes=7)
    assert Config.fromfile(str(saved)).num_classes == 4
    _run(ConfigKeepingRunner, source, work_dir, num_classes=9)  # as mmengine: replaced
    assert Config.fromfile(str(saved)).num_classes == 9
    fresh = tmp_path / 'test_only'
    runner = _testing_run(source, fresh, num_classes=5)  # nothing kept: as mmengine,
    assert not (fresh / 'my_run.py').exists()  # once testing starts
    assert runner.test() == {'mean_output': 1.0}
    assert Config.fromfile(str(fresh / 'my_run.py')).num_classes == 5


class MeanOutput(BaseMetric):
    def process(self, data_batch, data_samples) -> None:
        self.results.extend(float(output) for output in data_samples)

    def compute_metrics(self, results: list) -> dict:
        return {'mean_output': sum(results) / len(results)}


class OneOutput(TinyModel):
    def forward(self, inputs, data_samples=None, mode='tensor'):
        return torch.ones_like(inputs)


def _testing_run(config_file, work_dir, **changes) -> ConfigKeepingTestRunner:
    """A test run of two inputs whose metric is the model's mean output (1)."""
    cfg = Config.fromfile(str(config_file))
    cfg.merge_from_dict(changes)
    return ConfigKeepingTestRunner(
        model=OneOutput(), work_dir=str(work_dir), cfg=cfg,
        experiment_name=f'saved_config_{next(RUN_NAMES)}',
        test_dataloader=dict(dataset=[dict(inputs=torch.ones(1))] * 2, batch_size=2,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='default_collate')),
        test_evaluator=[MeanOutput()], test_cfg=dict())


class TinyRegressor(TinyModel):
    def forward(self, inputs, data_samples=None, mode='tensor'):
        outputs = self.linear(inputs)
        return {'loss': outputs.square().mean()} if mode == 'loss' else outputs


def test_a_training_run_saves_its_config_when_training_starts(tmp_path):
    """A run refused between building its Runner and training (tools/train.py's checks)
    leaves the config saved by the run before it as it was."""
    source, work_dir = tmp_path / 'configs' / 'my_run.py', tmp_path / 'work'
    source.parent.mkdir()
    source.write_text('num_classes = 100\n')
    _run(ConfigKeepingRunner, source, work_dir, num_classes=4)  # an earlier run
    saved = work_dir / 'my_run.py'
    cfg = Config.fromfile(str(source))
    cfg.num_classes = 9
    runner = ConfigKeepingTrainRunner(
        model=TinyRegressor(), work_dir=str(work_dir), cfg=cfg,
        experiment_name=f'saved_config_{next(RUN_NAMES)}',
        train_dataloader=dict(dataset=[dict(inputs=torch.ones(1))] * 2, batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        default_hooks=dict(checkpoint=None))
    assert Config.fromfile(str(saved)).num_classes == 4
    runner.train()
    assert Config.fromfile(str(saved)).num_classes == 9


def test_a_run_that_fails_to_build_or_is_refused_before_it_starts_leaves_no_run_folder(
        tmp_path):
    source = tmp_path / 'my_run.py'
    source.write_text('num_classes = 4\n')
    with pytest.raises(KeyError, match='NoSuchModel'):
        ConfigKeepingRunner(model=dict(type='NoSuchModel'), work_dir=str(tmp_path / 'work'),
                            cfg=Config.fromfile(str(source)),
                            experiment_name=f'saved_config_{next(RUN_NAMES)}')
    assert not (tmp_path / 'work').exists()
    runner = _testing_run(source, tmp_path / 'refused')
    assert Path(runner.log_dir).is_dir()
    with pytest.raises(SystemExit, match='refused'), discarded_on_error(runner):
        raise SystemExit('refused')
    assert not (tmp_path / 'refused').exists()  # made by the Runner, left empty: removed
