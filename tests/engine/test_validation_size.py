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
from rga_mm.engine.validation_size import meta_forward_refusal, network_inputs
from rga_mm.errors import ConfigError
from rga_mm.registry import DATASETS
from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
DEMO_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
# the demo's stage-1 RGA is built for 16×8 (64×32 / 4); a 96-pixel-high image gives 24×8
REFUSAL = ("StageAttentionBackbone stage 'layer1' (attentions['layer1']): RGA was built for a "
           "16×8 map but received 24×8; build it with spatial_size=(24, 8) or set "
           "variable_size=True to pool onto the 16×8 reference grid")


def first_validation_image(data_root: Path) -> str:
    cfg = Config.fromfile(str(DEMO_CONFIG))
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(data_root)))
    return dataset.get_data_info(0)['img_path']


def demo_runner(data_root: Path, work_dir: Path, val_height: int, **train_cfg) -> Runner:
    """The demo config on ``data_root``, validation images resized to ``val_height`` × 32."""
    cfg = Config.fromfile(str(DEMO_CONFIG))
    loader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=str(data_root)))
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), train_dataloader=dict(batch_size=8, **loader),
        val_dataloader=loader, test_dataloader=loader, model=dict(head=dict(num_classes=8)),
        custom_hooks=[], visualizer=dict(vis_backends=[dict(type='LocalVisBackend')])))
    cfg.val_dataloader.dataset.pipeline[1].scale = (32, val_height)
    cfg.train_cfg.update(train_cfg)
    return Runner.from_cfg(cfg)


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
])
def test_the_sentence_says_when_validation_would_run(tiny_market, tmp_path, train_cfg, when):
    runner = demo_runner(tiny_market, tmp_path, 96, **train_cfg)
    with pytest.raises(ConfigError, match=re.escape(f'after {when} of training: {REFUSAL}')):
        check_validation_size(runner)


def test_a_run_that_never_validates_is_not_looked_at(tiny_market, tmp_path):
    check_validation_size(demo_runner(tiny_market, tmp_path, 96, val_begin=90))  # of 80


def test_a_model_that_takes_its_validation_images_passes_and_draws_no_random_number(
        tiny_market, tmp_path):
    runner = demo_runner(tiny_market, tmp_path, 64)
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    check_validation_size(runner)  # builds a model: its initial weights draw random numbers
    assert random.getstate() == states[0]
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), states[1]))
    assert torch.equal(torch.get_rng_state(), states[2])
    loop = runner.val_loop  # built by the check: train() reuses it
    assert runner.build_val_loop(loop) is loop


class ItemReadingModel(BaseModel):
    """A user's model whose forward reads a value (``.item()``), which the meta device
    cannot give, and refuses maps narrower than 40 pixels as rga_mm's modules refuse sizes."""

    def __init__(self) -> None:
        super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor'))
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if inputs.shape[-1] < 40:
            raise ConfigError(f'this model needs maps at least 40 wide, got {inputs.shape[-1]}')
        features = self.conv(inputs)
        return features * features.mean().item()


def test_only_rga_mm_refusals_count_and_other_meta_failures_are_left_to_validation():
    narrow = dict(inputs=[torch.zeros(3, 30, 20, dtype=torch.uint8)], data_samples=None)
    error, size = meta_forward_refusal(ItemReadingModel(), narrow)
    assert str(error) == 'this model needs maps at least 40 wide, got 20' and size == (30, 20)
    wide = dict(inputs=[torch.zeros(3, 30, 50, dtype=torch.uint8)], data_samples=None)
    with pytest.raises(RuntimeError, match='meta'):  # what the meta device cannot run...
        ItemReadingModel().to('meta')(torch.zeros(1, 3, 30, 50, device='meta'))
    assert meta_forward_refusal(ItemReadingModel(), wide) is None  # ...is not refused


@pytest.mark.parametrize('config, size', [
    ('configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py', (256, 128)),
    ('configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py', (32, 32)),
    ('configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py', (1024, 2048)),
])
def test_the_shipped_models_run_on_the_meta_device(config, size):
    """Else the check would pass every run of them without looking (it leaves a forward
    that fails on the meta device to the run): one config per task, the segmentor on a whole
    Cityscapes image (its RGA neck takes any size)."""
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(str(ROOT / config))
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    cfg.model.pop('pretrained', None)
    model = MODELS.build(cfg.model).to('meta').eval()
    batch = dict(inputs=[torch.zeros(3, *size, dtype=torch.uint8)], data_samples=None)
    with torch.no_grad():
        inputs = model.data_preprocessor(batch, False)['inputs']
        output = model(network_inputs(model, inputs, False), None, mode='tensor')
    assert output.device.type == 'meta' and output.shape[0] == 1
