"""A head with fewer outputs than its data has classes stops the tools before anything is
built (training would stop at the first batch holding a label beyond it; testing a CIFAR-10
model on CIFAR-100 reports near-zero accuracy without a word)."""
import re
from pathlib import Path

import pytest

from rga_mm.engine.launch.run_config import load_run_config

ROOT = Path(__file__).parents[2]
CIFAR10 = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
CITYSCAPES = ROOT / 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'


def _load(config: Path, options: dict | None, tmp_path: Path):
    return load_run_config(str(config), 'none', options, str(tmp_path / 'work'))


@pytest.mark.parametrize('config, options, message', [
    (CIFAR10, {'model.head.num_classes': 5},
     'model.head.num_classes=5 but train_dataloader.dataset (rga_mm.CIFAR10) has 10 classes'),
    (CIFAR10, {'test_dataloader.dataset.type': 'rga_mm.CIFAR100'},
     'model.head.num_classes=10 but test_dataloader.dataset (rga_mm.CIFAR100) has 100 '
     'classes'),
    (CITYSCAPES, {'model.decode_head.num_classes': 10},
     'model.decode_head.num_classes=10 but train_dataloader.dataset '
     '(rga_mm.CityscapesDataset) has 19 classes'),
], ids=['cifar head', 'cifar-100 test data', 'cityscapes decode head'])
def test_a_head_with_fewer_outputs_than_classes_is_refused(tmp_path, config, options, message):
    outputs, classes = re.findall(r'=(\d+) but .* has (\d+) classes', message)[0]
    key = message.split('.num_classes')[0]
    with pytest.raises(SystemExit) as stop:
        _load(config, options, tmp_path)
    assert str(stop.value) == (f'{message}, so labels from {outputs} up would have no output: '
                               f'set {key}.num_classes={classes}, or give the data the model '
                               f'was built for')


def test_classes_given_in_the_config_count_and_more_outputs_pass(tmp_path):
    """A dataset's ``metainfo.classes`` in the config replaces its type's; a head with more
    outputs than classes trains."""
    five = {f'{loader}.dataset.metainfo': dict(classes=['a', 'b', 'c', 'd', 'e'])
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    assert _load(CIFAR10, {**five, 'model.head.num_classes': 5}, tmp_path).model.head[
        'num_classes'] == 5
    assert _load(CIFAR10, {'model.head.num_classes': 11}, tmp_path).model.head[
        'num_classes'] == 11


@pytest.mark.parametrize('config', sorted(path for path in (ROOT / 'configs').glob('*/*.py')
                                          if path.parent.name != '_base_'),
                         ids=lambda path: path.name)
def test_every_shipped_config_passes(tmp_path, config):
    assert _load(config, None, tmp_path).model is not None
