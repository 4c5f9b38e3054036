"""rga_mm's core needs no compiled op: with ``mmcv._ext`` and ``mmseg`` unimportable (as with
mmcv-lite and no segmentation extra) the demo and CIFAR models train, the tools run, and a
segmentation config names the extra it needs.

Each check runs in a fresh process whose ``sitecustomize`` refuses those imports.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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

TRAIN_STEPS = '''
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
print(json.dumps(dict(demo=demo, cifar=cifar, grid_grad=float(x.grad.abs().sum()),
                      loaded=sorted(name for name, module in sys.modules.items()
                                    if module is not None and (
                                        name.startswith('mmseg') or name == 'mmcv.ops')))))
'''.replace('{demo}', DEMO_CONFIG).replace('{cifar}', CIFAR_CONFIG)


@pytest.fixture()
def refusing_env(tmp_path) -> dict:
    """Environment variables of a process where mmcv._ext and mmseg cannot be imported."""
    (tmp_path / 'sitecustomize.py').write_text(BLOCKER)
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tmp_path), str(ROOT)])}


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_demo_and_cifar_models_train_without_compiled_ops(refusing_env):
    result = _run(['-c', TRAIN_STEPS], refusing_env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for losses in (report['demo'], report['cifar']):
        assert losses and all(value == value and abs(value) < 1e6 for value in losses.values())
    assert set(report['demo']) >= {'loss_cls', 'loss_triplet'}
    assert 'loss' in report['cifar']
    assert report['grid_grad'] > 0
    assert report['loaded'] == []  # nothing pulled in mmseg or mmcv.ops


@pytest.mark.slow
def test_train_and_test_tools_run_without_compiled_ops(refusing_env, tiny_market, tmp_path):
    root = str(tiny_market)
    overrides = ['--cfg-options', *(f'{split}_dataloader.{key}'
                                    for split in ('train', 'val', 'test')
                                    for key in (f'dataset.data_root={root}', 'num_workers=0',
                                                'persistent_workers=False')),
                 'train_dataloader.batch_size=8', 'model.head.num_classes=8',
                 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'custom_hooks=[]',
                 'default_hooks.checkpoint.interval=1']
    work_dir = tmp_path / 'work'
    train = _run(['tools/train.py', DEMO_CONFIG, '--work-dir', str(work_dir), *overrides],
                 refusing_env)
    assert train.returncode == 0, train.stderr[-3000:]
    out = tmp_path / 'metrics.json'
    test = _run(['tools/test.py', DEMO_CONFIG, str(work_dir / 'epoch_1.pth'), '--work-dir',
                 str(tmp_path / 'test'), '--out', str(out), *overrides], refusing_env)
    assert test.returncode == 0, test.stderr[-3000:]
    assert 0 <= json.loads(out.read_text())['reid/mAP'] <= 100


def test_a_segmentation_config_names_the_extra(refusing_env, tmp_path):
    result = _run(['tools/train.py', SEG_CONFIG, '--work-dir', str(tmp_path)], refusing_env)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "pip install 'rga_mm[seg]'" in last_line and SEG_CONFIG in last_line
    assert 'Traceback' not in result.stderr
