"""The check before training that a model takes the size of its validation images
(:mod:`rga_mm.engine.validation_size`).

An attention built for one map size meets validation images of another size only at the
first validation, epochs into a run; the check sends the first validation image through a
copy of the model on the ``meta`` device before the first iteration. Here: the demo re-ID
config (RGA-SC, fixed 64×32 maps) on a tiny synthetic Market-1501, with its validation
pipeline resized; the sentence names the image, the size and when validation would run.
"""
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

from rga_mm.engine import check_validation_size
from rga_mm.engine.launch import load_config
from rga_mm.engine.launch.run_config import name_runs_apart
from rga_mm.engine.validation_size import meta_forward, meta_model_from_config, network_data
from rga_mm.errors import ConfigError
from rga_mm.registry import DATASETS
from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
DEMO_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
# the demo's stage-1 RGA is built for 16×8 (64×32 / 4); a 96-pixel-high image gives 24×8
REFUSAL = ("StageAttentionBackbone stage 'layer1' (attentions['layer1']): RGA was built for a "
           "16×8 map but received 24×8; build it with spatial_size=(24, 8) or set "
           "variable_size=True to pool onto the 16×8 reference grid; the training images fit "
           "its built size, so another spatial_size would refuse them: variable_size=True is "
           "the fix that takes both")


def first_validation_image(data_root: Path) -> str:
    cfg = Config.fromfile(str(DEMO_CONFIG))
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(data_root)))
    return dataset.get_data_info(0)['img_path']


def demo_config(data_root: Path, work_dir: Path, val_height: int, **train_cfg) -> Config:
    """The demo config on ``data_root``, validation images resized to ``val_height`` × 32;
    read as the tools read it (a Runner built from it formats its text once)."""
    cfg = load_config(DEMO_CONFIG)
    loader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=str(data_root)))
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), train_dataloader=dict(batch_size=8, **loader),
        val_dataloader=loader, test_dataloader=loader, model=dict(head=dict(num_classes=8)),
        custom_hooks=[], visualizer=dict(vis_backends=[dict(type='LocalVisBackend')])))
    cfg.val_dataloader.dataset.pipeline[1].scale = (32, val_height)
    cfg.train_cfg.update(train_cfg)
    name_runs_apart(cfg)  # Runners built in one second would share mmengine's visualizer
    return cfg


def demo_runner(data_root: Path, work_dir: Path, val_height: int, **train_cfg) -> Runner:
    return Runner.from_cfg(demo_config(data_root, work_dir, val_height, **train_cfg))


def test_train_tool_stops_before_the_first_iteration(tiny_market, tmp_path, capsys):
    train = load_script(ROOT / 'tools/train.py', 'train')
    work_dir = tmp_path / 'work'
    root = str(tiny_market)
    with pytest.raises(SystemExit) as stop:
        train.main([str(DEMO_CONFIG), '--work-dir', str(work_dir), '--cfg-options',
                    f'train_dataloader.dataset.data_root={root}',
                    f'val_dataloader.dataset.data_root={root}', 'model.head.num_classes=8',
                    'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False', 'custom_hooks=[]',
                    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
                    'val_dataloader.dataset.pipeline.1.scale=(32,96)',
                    'train_cfg.max_epochs=1'])
    assert str(stop.value) == (
        f"validation would stop at its first image, {first_validation_image(tiny_market)} "
        f"(96×32 at the network's input), after epoch 1 of training: {REFUSAL}")
    assert 'Epoch(train)' not in capsys.readouterr().out
    assert not list(work_dir.rglob('*.pth'))


@pytest.mark.parametrize('train_cfg, when', [
    (dict(), 'epoch 20'),  # the demo's val_interval
    (dict(val_begin=25), 'epoch 40'),  # the first multiple of 20 from 25 on
    (dict(val_begin=25, max_epochs=30), 'epoch 30'),  # the end of training comes first
    (dict(val_begin=0), 'epoch 20'),  # mmengine validates after an epoch, never at 0
    # mmengine takes a milestone's interval from the epoch before it on: 4 % 1 == 0
    (dict(dynamic_intervals=[(5, 1)]), 'epoch 4'),
])
def test_the_sentence_says_when_validation_would_run(tiny_market, tmp_path, train_cfg, when):
    runner = demo_runner(tiny_market, tmp_path, 96, **train_cfg)
    with pytest.raises(ConfigError, match=re.escape(f'after {when} of training: {REFUSAL}')):
        check_validation_size(runner)


def test_a_resumed_run_is_told_of_its_next_validation(tiny_market, tmp_path):
    runner = demo_runner(tiny_market, tmp_path, 96)
    runner.train_loop._epoch = 25  # as mmengine's resume sets it
    with pytest.raises(ConfigError, match=re.escape(f'after epoch 40 of training: {REFUSAL}')):
        check_validation_size(runner)


def test_runs_that_would_not_meet_the_size_are_not_refused(tiny_market, tmp_path):
    assert check_validation_size(
        demo_runner(tiny_market, tmp_path / 'a', 96, val_begin=90)) is False  # of 80 epochs
    cfg = demo_config(tiny_market, tmp_path / 'b', 96)
    cfg.model.backbone.attentions.layer1.spatial_size = (9, 9)  # fits no image: the first
    assert check_validation_size(Runner.from_cfg(cfg)) is False  # iteration says so itself


def test_a_model_that_takes_its_validation_images_passes_and_draws_no_random_number(
        tiny_market, tmp_path):
    runner = demo_runner(tiny_market, tmp_path, 64)
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    assert check_validation_size(runner) is True  # its model's initial weights draw numbers
    assert random.getstate() == states[0]
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), states[1]))
    assert torch.equal(torch.get_rng_state(), states[2])
    loop = runner.val_loop  # built by the check: train() reuses it
    assert runner.build_val_loop(loop) is loop


class ItemReadingModel(BaseModel):
    """A user's model whose forward reads a value (``.item()``), which the meta device
    cannot give, after refusing maps higher than 80 pixels as rga_mm's modules refuse
    sizes."""

    def __init__(self) -> None:
        super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor'))
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if inputs.shape[-2] > 80:
            raise ConfigError(f'this model takes maps up to 80 high, got {inputs.shape[-2]}')
        features = self.conv(inputs)
        return features * features.mean().item()


def module_runner(data_root: Path, work_dir: Path, val_height: int) -> Runner:
    """A Runner given a model module (no model config) and the demo's data."""
    cfg = demo_config(data_root, work_dir, val_height)
    return Runner(model=ItemReadingModel(), work_dir=str(work_dir),
                  experiment_name=f'validation_size_{work_dir.name}',
                  train_dataloader=cfg.train_dataloader, val_dataloader=cfg.val_dataloader,
                  val_evaluator=cfg.val_evaluator, train_cfg=cfg.train_cfg, val_cfg=dict(),
                  optim_wrapper=cfg.optim_wrapper, default_scope='rga_mm')


def test_a_runner_given_a_module_is_checked_and_only_refusals_stop_it(tiny_market, tmp_path):
    """The training image (64 high) fails on the meta device at ``.item()``, which leaves
    it unchecked; the 96-high validation image is refused before that, the 64-high one
    fails there too and the run is left to itself."""
    with pytest.raises(ConfigError, match=re.escape(
            "(96×32 at the network's input), after epoch 20 of training: this model takes "
            "maps up to 80 high, got 96")):
        check_validation_size(module_runner(tiny_market, tmp_path / 'a', 96))
    with pytest.raises(RuntimeError, match='meta'):  # what the meta device cannot run...
        ItemReadingModel().to('meta')(torch.zeros(1, 3, 64, 32, device='meta'))
    assert check_validation_size(module_runner(tiny_market, tmp_path / 'b', 64)) is False


@pytest.mark.parametrize('config, size', [
    ('configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py', (256, 128)),
    ('configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py', (32, 32)),
    ('configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py', (1024, 2048)),
])
def test_the_shipped_models_run_on_the_meta_device(config, size):
    """Else the check would pass every run of them without looking (it leaves a forward
    that fails on the meta device to the run): one config per task, built as the check
    builds it, the segmentor on a whole Cityscapes image (its RGA neck takes any size)."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(str(ROOT / config))
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    model = meta_model_from_config(cfg.model)
    batch = dict(inputs=[torch.zeros(3, *size, dtype=torch.uint8)], data_samples=None)
    meta_forward(model, network_data(model, batch))
    assert all(p.device.type == 'meta' for p in model.parameters())
