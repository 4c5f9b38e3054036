"""A head with fewer outputs than its data has classes stops the tools before anything is
built (training would stop at the first batch holding a label beyond it; testing a CIFAR-10
model on CIFAR-100 reports near-zero accuracy without a word)."""
import re
from pathlib import Path

import pytest

from rga_mm.engine.launch.run_config import load_run_config
from rga_mm.testing import load_script

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


def test_a_test_checks_only_the_test_data(tmp_path):
    """tools/test.py reads only ``test_dataloader``: a CIFAR-100 config whose head was set to
    10 outputs for a CIFAR-10 checkpoint tests on CIFAR-10 test data, and its training data
    of 100 classes must not stop it (the fix that sentence gave, num_classes=100, would not
    fit the checkpoint); a head too small for the test data still stops it."""
    cifar100 = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar100.py'
    options = {'model.head.num_classes': 10, 'test_dataloader.dataset.type': 'rga_mm.CIFAR10'}
    with pytest.raises(SystemExit, match='^model.head.num_classes=10 but train_dataloader'):
        _load(cifar100, options, tmp_path)
    cfg = load_run_config(str(cifar100), 'none', options, str(tmp_path / 'work'),
                          loaders=('test_dataloader',))
    assert cfg.model.head.num_classes == 10
    with pytest.raises(SystemExit, match='^model.head.num_classes=5 but test_dataloader'):
        load_run_config(str(CIFAR10), 'none', {'model.head.num_classes': 5},
                        str(tmp_path / 'work'), loaders=('test_dataloader',))
    # tools/test.py passes the class check and goes on to read its checkpoint
    missing = tmp_path / 'cifar10.pth'
    with pytest.raises(SystemExit, match=f'^checkpoint file {re.escape(str(missing))} does not'):
        load_script(ROOT / 'tools/test.py', 'test_tool').main(
            [str(cifar100), str(missing), '--work-dir', str(tmp_path / 'work'),
             '--cfg-options', *(f'{key}={value}' for key, value in options.items())])
