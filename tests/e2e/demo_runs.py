"""The demo config shrunk for end-to-end runs of the real tools on the tiny synthetic
Market-1501 (tests/conftest.py's ``tiny_market``), and the tools as modules to call in this
process. Shared by the end-to-end tests (importable from this folder, which pytest puts on
``sys.path``)."""
from pathlib import Path
from types import ModuleType

from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def demo_overrides(data_root: Path, max_epochs: int) -> list[str]:
    """``--cfg-options`` that point every split at ``data_root``, load in the main process,
    fit the classifier to the tiny tree's 8 training identities, train ``max_epochs`` epochs
    with a validation at the end, log every iteration and keep three epoch checkpoints."""
    root = str(data_root)
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', 'model.head.num_classes=8',
            f'train_cfg.max_epochs={max_epochs}', f'train_cfg.val_interval={max_epochs}',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=3']


def tool(path: str) -> ModuleType:
    """A tool script (``path`` from the repository root) as a module, to call its
    ``main(argv)``; registered, so that its functions can be pickled for worker processes."""
    return load_script(ROOT / path, register=True)


def args(*argv) -> list[str]:
    """A command line of strings from paths, numbers and strings."""
    return [str(arg) for arg in argv]
