"""``rga_mm.RGA``: the RGA module from the package's top level, as the README's quick start
uses it, without ``import rga_mm`` pulling in the optional extras."""
import json
import subprocess
import sys
from pathlib import Path

import torch

import rga_mm
from rga_mm.models.attention import RGA
from rga_mm.registry import MODELS

ROOT = Path(__file__).parents[2]
# modules of the extras (seg, deploy, tests) and the parts of rga_mm that only tools use;
# mmcv.ops is left to tests/tools/test_core_without_compiled_ops.py (mmpretrain imports it
# wherever it is installed)
OPTIONAL = ('mmseg', 'onnx', 'onnxruntime', 'onnxscript', 'mim', 'pytest', 'rga_mm.apis',
            'rga_mm.deployment', 'rga_mm.testing')


def test_rga_is_the_registered_module():
    assert rga_mm.RGA is RGA
    assert 'RGA' in rga_mm.__all__
    built = MODELS.build(dict(type='RGA', in_channels=16, spatial_size=(8, 4), reduction=2))
    assert type(built) is rga_mm.RGA


def test_import_rga_mm_gives_rga_without_the_optional_extras():
    script = ('import json, sys, torch\n'
              'import rga_mm\n'
              'y = rga_mm.RGA(16, spatial_size=(8, 4), reduction=2)(torch.randn(2, 16, 8, 4))\n'
              f'loaded = [m for m in {OPTIONAL!r} if m in sys.modules]\n'
              'print(json.dumps(dict(shape=list(y.shape), loaded=loaded)))\n')
    result = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['shape'] == [2, 16, 8, 4]
    assert report['loaded'] == []


def test_rga_from_the_top_level_attends_a_map():
    module = rga_mm.RGA(16, spatial_size=(8, 4), reduction=2).eval()
    x = torch.randn(2, 16, 8, 4)
    assert module(x).shape == x.shape
