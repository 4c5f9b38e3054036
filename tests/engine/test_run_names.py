"""Runs built one after another in one process get experiment names of their own, so that
mmengine does not hand the second the first one's logger and visualizer."""
import re

from mmengine.config import Config

from rga_mm.engine.launch.run_config import name_runs_apart


def test_every_run_after_the_first_gets_a_name_of_its_own(tmp_path):
    config = tmp_path / 'my_config.py'
    config.write_text('model = dict()\n')
    configs = [Config.fromfile(str(config)) for _ in range(3)]
    for cfg in configs:
        name_runs_apart(cfg)
    names = [cfg.get('experiment_name') for cfg in configs]
    assert len(set(names)) == 3  # the first may keep mmengine's name (None) in a new process
    later = [int(re.fullmatch(r'my_config_run(\d+)', name)[1]) for name in names[1:]]
    assert later[1] == later[0] + 1 > 1

    chosen = Config(dict(experiment_name='mine', visualizer=dict(name='visualizer')),
                    filename=str(config))
    name_runs_apart(chosen)  # never the first run: three came before
    assert chosen.experiment_name == 'mine'
    assert re.fullmatch(r'visualizer_run(\d+)', chosen.visualizer.name)[1] == str(later[1] + 1)
