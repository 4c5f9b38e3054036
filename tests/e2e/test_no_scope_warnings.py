"""rga_mm declares a child of every mmengine registry, so runs log no scope warnings.

Without a child in the ``rga_mm`` scope, mmengine builds the optimizer, its wrapper and
constructor, the parameter schedulers, ... from its own root registry and logs
``Failed to search registry with scope "rga_mm" in the "optimizer" registry tree`` for each,
which buries the warnings that matter.
"""
import sys
from pathlib import Path

import mmengine.registry.root as mmengine_root
import pytest
from mmengine.registry import Registry

from tool_runs import run_checked

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
SCOPE_WARNING = 'Failed to search registry'


def _root_registries():
    return {name: value for name, value in vars(mmengine_root).items()
            if isinstance(value, Registry)}


@pytest.mark.parametrize('name', sorted(_root_registries()))
def test_every_mmengine_registry_has_an_rga_mm_child(name):
    import rga_mm.registry
    child = _root_registries()[name].children.get('rga_mm')
    assert child is not None, f'rga_mm/registry.py declares no child of mmengine\'s {name}'
    assert getattr(rga_mm.registry, name, None) is child


def _overrides(data_root: Path) -> list:
    root = str(data_root)
    # batches of all 8 training identities × 4 images: one iteration, then one validation
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=32',
            'model.head.num_classes=8', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
              for key in ('num_workers=0', 'persistent_workers=False'))]


def _run(*args: str) -> str:
    result = run_checked(sys.executable, *args, timeout=300)
    return result.stdout + result.stderr


@pytest.mark.slow
def test_training_logs_no_scope_warning(tiny_market, tmp_path):
    """A real short run of tools/train.py (one iteration, then validation, which builds the
    loop and evaluator a test run builds): neither its output nor its log file holds a
    registry scope warning."""
    output = _run('tools/train.py', str(CONFIG), '--work-dir', str(tmp_path),
                  *_overrides(tiny_market))
    assert 'Epoch(train)' in output and 'Epoch(val)' in output  # it did train and validate
    (log, ) = tmp_path.glob('*/*.log')
    for text in (output, log.read_text()):
        warnings = [line for line in text.splitlines() if SCOPE_WARNING in line]
        assert not warnings, '\n'.join(warnings)
