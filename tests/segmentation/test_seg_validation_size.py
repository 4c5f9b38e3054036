"""A segmentor whose RGANeck is built for the training crops' map size, validated on whole
images (paper §4.2: the RGA-SC segmentors train on crops and test on whole images): the
check before training (:mod:`rga_mm.engine.validation_size`) refuses it before the first
iteration, in rga_mm's tools and, through ``CheckValidationSizeHook``, in any Runner; mmseg's
sliding-window testing on crops of the training size passes."""
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from rga_mm.engine import check_validation_size
from rga_mm.engine.launch import load_config
from rga_mm.engine.launch.run_config import name_runs_apart
from rga_mm.errors import ConfigError
from tiny_cityscapes import write_tiny_setup

# 64×64 crops at output stride 8 give 8×8 maps; the 64×128 validation images give 8×16
FIXED_NECK = {'model.neck.variable_size': False, 'model.neck.spatial_size': (8, 8)}


@pytest.fixture
def config(tmp_path) -> Config:
    """The tiny PSPNet + RGA-SC config on a tiny Cityscapes tree, its neck built for 8×8; read
    as the tools read it (a Runner built from it formats its text once)."""
    _, path = write_tiny_setup(tmp_path)
    init_default_scope('mmseg')
    cfg = load_config(path)
    cfg.merge_from_dict({**FIXED_NECK, 'work_dir': str(tmp_path / 'work')})
    name_runs_apart(cfg)  # Runners built in one second would share mmengine's visualizer
    return cfg


def test_the_neck_meets_the_size_each_test_mode_gives(config):
    """Whole images (mmseg's default) are refused; sliding windows of the training size
    pass and windows of another size are refused. One Runner: the check builds its model
    from ``runner.cfg.model``, whose ``test_cfg`` is changed in between."""
    runner = Runner.from_cfg(config)
    image = runner.val_loop.dataloader.dataset.get_data_info(0)['img_path']
    with pytest.raises(ConfigError) as error:
        check_validation_size(runner)
    assert str(error.value).startswith(
        f"validation would stop at its first image, {image} (64×128 at the network's input), "
        f"after iteration 2 of training: neck: RGANeck was built for a 8×8 map "
        f"(model.neck.spatial_size) but the backbone map at in_index=-1 is 8×16")

    runner.cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    assert check_validation_size(runner) is True

    runner.cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 96), stride=(48, 48))
    with pytest.raises(ConfigError, match=re.escape(
            "(64×96 at the network's input), after iteration 2 of training: neck: RGANeck "
            "was built for a 8×8 map (model.neck.spatial_size) but the backbone map at "
            "in_index=-1 is 8×12")):
        check_validation_size(runner)


def test_the_hook_stops_any_runner_before_its_first_iteration(config):
    """mmseg's own tools/train.py builds ``Runner.from_cfg(cfg)`` and calls ``train()``."""
    config.custom_hooks = [dict(type='rga_mm.CheckValidationSizeHook')]
    runner = Runner.from_cfg(config)
    with pytest.raises(ConfigError, match=re.escape('RGANeck was built for a 8×8 map')):
        runner.train()
    assert runner.iter == 0


def test_the_attention_hook_refuses_whole_images_before_the_first_iteration(config):
    """Slide testing on crops of the training size validates, but the config's
    AttentionVisualizationHook explains whole images: refused before training, not at its
    first drawing (after iteration 2, before that iteration's checkpoint)."""
    config.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(64, 64))
    assert [hook['type'] for hook in config.custom_hooks] == [
        'rga_mm.AttentionVisualizationHook']
    runner = Runner.from_cfg(config)
    assert check_validation_size(runner) is True
    with pytest.raises(ConfigError) as error:
        runner.train()
    assert runner.iter == 0
    assert re.fullmatch(
        r"AttentionVisualizationHook explains whole validation images, and \S+ \(64×128 at "
        r"the network's input\) would stop the run at its first drawing: neck: RGANeck was "
        r"built for a 8×8 map .*variable_size=True.*; or leave the hook out", str(error.value))
