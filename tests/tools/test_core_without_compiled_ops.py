"""rga_mm's core needs no compiled op: with ``mmcv._ext`` and ``mmseg`` unimportable (as with
mmcv-lite and no segmentation extra) the demo and CIFAR models train, the tools run, and a
segmentation config names the extra it needs.

The checks run in one fresh process whose ``sitecustomize`` refuses those imports: a script
that trains the models for a step, then calls the tools' ``main(argv)`` as their command lines
would, and prints what it found as JSON for the tests below.
"""
import json
import os
import sys
from pathlib import Path

import pytest

from tool_runs import run_checked

ROOT = Path(__file__).parents[2]
DEMO_CONFIG = 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
CIFAR_CONFIG = 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
SEG_CONFIG = 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'

BLOCKER = '''
import sys

# A None entry makes an import fail and find_spec() answer None, as for a module that is not
# installed: mmcv-lite has no ``mmcv._ext``; without the seg extra there is no ``mmseg``.
sys.modules['mmcv._ext'] = None
sys.modules['mmseg'] = None
'''

CHECKS = '''
import json
import sys

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

import rga_mm
from rga_mm.apis import init_model
from rga_mm.models.attention import RGA

for refused in ('mmcv._ext', 'mmseg'):
    try:
        __import__(refused)
    except ImportError:
        pass
    else:
        raise AssertionError(f'{refused} was importable')


def one_step(config, images, labels):
    model = init_model(config).train()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    losses = model.train_step(dict(inputs=images, data_samples=samples), optim_wrapper)
    return {name: float(value) for name, value in losses.items()}


torch.manual_seed(0)
demo = one_step('{demo}', torch.randint(0, 256, (8, 3, 64, 32), dtype=torch.uint8),
                [0, 0, 0, 0, 1, 1, 1, 1])
cifar = one_step('{cifar}', torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8),
                 [0, 1, 2, 3])
# the reference grid (variable input sizes) is pure torch as well
module = RGA(16, spatial_size=(8, 4), variable_size=True, reduction=2)
x = torch.randn(2, 16, 13, 7, requires_grad=True)
module(x).sum().backward()
loaded = sorted(name for name, module in sys.modules.items()
                if module is not None and (name.startswith('mmseg') or name == 'mmcv.ops'))

# the tools: train and test the demo on the tiny tree, then train a segmentation config
from rga_mm.testing import load_script

work_dir, data_root = sys.argv[1], sys.argv[2]
overrides = ['--cfg-options', *(f'{split}_dataloader.{key}'
                                for split in ('train', 'val', 'test')
                                for key in (f'dataset.data_root={data_root}', 'num_workers=0',
                                            'persistent_workers=False')),
             'train_dataloader.batch_size=8', 'model.head.num_classes=8',
             'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'custom_hooks=[]',
             'default_hooks.checkpoint.interval=1']
load_script('tools/train.py', 'train_tool').main(
    ['{demo}', '--work-dir', f'{work_dir}/train', *overrides])
load_script('tools/test.py', 'test_tool').main(
    ['{demo}', f'{work_dir}/train/epoch_1.pth', '--work-dir', f'{work_dir}/test', '--out',
     f'{work_dir}/metrics.json', *overrides])
try:
    load_script('tools/train.py', 'seg_train_tool').main(['{seg}', '--work-dir',
                                                          f'{work_dir}/seg'])
    seg_stop = None
except SystemExit as stop:
    seg_stop = str(stop.code)
print(json.dumps(dict(demo=demo, cifar=cifar, grid_grad=float(x.grad.abs().sum()),
                      loaded=loaded, seg_stop=seg_stop)))
'''.replace('{demo}', DEMO_CONFIG).replace('{cifar}', CIFAR_CONFIG).replace(
    '{seg}', SEG_CONFIG)


@pytest.fixture(scope='module')
def report(tiny_market, tmp_path_factory) -> dict:
    """What the checks found, in a process where mmcv._ext and mmseg cannot be imported."""
    work_dir = tmp_path_factory.mktemp('without_compiled_ops')
    (work_dir / 'sitecustomize.py').write_text(BLOCKER)
    result = run_checked(sys.executable, '-c', CHECKS, str(work_dir), str(tiny_market),
                         env={'PYTHONPATH': os.pathsep.join([str(work_dir), str(ROOT)])})
    return dict(json.loads(result.stdout.strip().splitlines()[-1]), work_dir=work_dir)


def test_demo_and_cifar_models_train_without_compiled_ops(report):
    for losses in (report['demo'], report['cifar']):
        assert losses and all(value == value and abs(value) < 1e6 for value in losses.values())
    assert set(report['demo']) >= {'loss_cls', 'loss_triplet'}
    assert 'loss' in report['cifar']
    assert report['grid_grad'] > 0
    assert report['loaded'] == []  # nothing pulled in mmseg or mmcv.ops


@pytest.mark.slow
def test_train_and_test_tools_run_without_compiled_ops(report):
    assert (report['work_dir'] / 'train/epoch_1.pth').is_file()
    metrics = json.loads((report['work_dir'] / 'metrics.json').read_text())
    assert 0 <= metrics['reid/mAP'] <= 100


def test_a_segmentation_config_names_the_extra(report):
    assert "pip install 'rga_mm[seg]'" in report['seg_stop'] and SEG_CONFIG in report['seg_stop']
