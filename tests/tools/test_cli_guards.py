"""Command-line options that used to be ignored or to fail late: a mistyped top-level
``--cfg-options`` key and an ``--out`` file that cannot be written."""
import pytest
from mmengine.config import Config

from rga_mm.apis import init_model
from rga_mm.engine.launch import check_output_file, load_run_config

CONFIG = """
default_scope = 'rga_mm'
randomness = dict(seed=16)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
model = dict(type='StageAttentionBackbone',
             backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )))
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / 'tiny.py'
    path.write_text(CONFIG)
    return str(path)


def test_a_mistyped_top_level_key_names_the_closest_one(config_file):
    with pytest.raises(SystemExit, match=r"--cfg-options randomnes.seed: the config \S+tiny.py "
                                         r"has no top-level key 'randomnes'.*did you mean "
                                         r"'randomness'\?"):
        load_run_config(config_file, 'none', {'randomnes.seed': 5}, None)
    with pytest.raises(ValueError, match=r"no top-level key 'modle'.*did you mean 'model'\?"):
        init_model(config_file, cfg_options={'modle.backbone.depth': 34})


def test_new_nested_keys_and_keys_the_runner_reads_are_accepted(config_file):
    cfg = load_run_config(config_file, 'none', {
        'randomness.seed': 5,
        'default_hooks.checkpoint.save_best': 'auto',  # a new option of an existing dict
        'find_unused_parameters': True,  # read by mmengine's Runner, in no config of ours
        'work_dir': 'elsewhere'}, None)
    assert cfg.randomness.seed == 5 and cfg.default_hooks.checkpoint.save_best == 'auto'
    assert cfg.find_unused_parameters is True and cfg.work_dir == 'elsewhere'
    assert isinstance(cfg, Config)


def test_out_must_be_a_writable_file_in_an_existing_folder(tmp_path):
    check_output_file(None)
    check_output_file(str(tmp_path / 'metrics.json'))
    with pytest.raises(SystemExit, match=r'the folder \S+missing does not exist; create it '
                                         r'first \(mkdir -p \S+missing\)'):
        check_output_file(str(tmp_path / 'missing' / 'metrics.json'))
    with pytest.raises(SystemExit, match=r'is a folder; give a file name in it'):
        check_output_file(str(tmp_path))
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    with pytest.raises(SystemExit, match=r'a_file is a file, not a folder'):
        check_output_file(str(a_file / 'metrics.json'))
