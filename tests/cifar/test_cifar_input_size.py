"""Another input size for a CIFAR config: the refusal of ``--cfg-options input_size`` names
the classification docs, whose "Another input size" config builds at 64×64."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from rga_mm.apis import init_model
from documented_configs import write_documented_config

ROOT = Path(__file__).parents[2]
CIFAR = ROOT / 'configs/cifar/densenet-bc-k12-l100_rga-sc_1xb64-300e_cifar10.py'
DEMO = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


@pytest.mark.parametrize('config, doc', [
    (CIFAR, 'docs/classification.md, "Another input size"'),
    (DEMO, 'docs/reid.md, "Another input size"')])
def test_an_input_size_option_is_refused_naming_the_docs_of_the_configs_task(config, doc):
    """A CIFAR classifier is pointed at the classification page, a re-ID model still at the
    re-ID page; the model is not built."""
    with pytest.raises(ValueError, match=re.escape(
            'write a config that inherits this one and restates the sizes derived from '
            f'input_size ({doc})')):
        init_model(config, cfg_options={'input_size': (64, 64)})


def test_the_documented_64x64_cifar_config_builds_at_that_size(tmp_path):
    """The config of docs/classification.md, "Another input size", written beside (a copy
    of) configs/ as the page says: RGA-SC built for 32×32 maps, every pipeline at 64×64."""
    path = write_documented_config(
        'classification.md', '### Another input size',
        'my_configs/densenet-bc-k12-l100_rga-sc_1xb64-300e_cifar10-64x64.py', tmp_path)
    cfg = Config.fromfile(path)
    assert cfg.input_size == (64, 64)
    assert cfg.model.backbone.attentions.transition1.spatial_size == (32, 32)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.pipeline[0] == dict(type='Resize', scale=(64, 64))
    assert cfg.train_dataloader.dataset.pipeline[1]['crop_size'] == (64, 64)
    model = init_model(cfg)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64), mode='tensor').shape == (1, 10)
