"""The config a run saves in its work dir never overwrites the config file the run reads,
nor, for a test run, a training run's saved config; otherwise it is mmengine's dump."""
import itertools

import pytest
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import nn

from rga_mm.engine.launch.saved_config import ConfigKeepingRunner, ConfigKeepingTestRunner

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
    _run(ConfigKeepingTestRunner, source, fresh, num_classes=5)  # nothing kept: as mmengine
    assert Config.fromfile(str(fresh / 'my_run.py')).num_classes == 5
