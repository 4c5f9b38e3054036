"""Test helper: the demo re-ID model (RGA-SC on ResNet-18, 64×32) made comparable on a tiny
dataset: saved with the BN statistics of its training split, and run over its test split as
``tools/test.py`` runs it. Shared by tests in several folders (importable as ``demo_model``:
tests/conftest.py puts tests/ on ``sys.path``)."""
from pathlib import Path

import torch
from mmengine.dataset import pseudo_collate
from torch import nn

from rga_mm.apis import init_model
from rga_mm.registry import DATASETS
from bn_calibration import trained_like

DEMO_CONFIG = Path(__file__).parents[1] / (
    'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py')


def calibrated_demo_checkpoint(data_root: Path, path: Path, seed: int = 0) -> Path:
    """The demo model from ``seed``'s initial weights with the BN statistics of
    ``data_root``'s training split (:func:`trained_like`), saved at ``path`` as a
    weights-only checkpoint; returns ``path``."""
    torch.manual_seed(seed)
    model = init_model(DEMO_CONFIG)
    train = DATASETS.build(dict(model.cfg.test_dataloader.dataset, data_root=str(data_root),
                                split='train'))
    trained_like(model, [train[i] for i in range(len(train))])
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def samples_of_test_split(model: nn.Module, data_root: Path, batch_size: int = 64) -> list:
    """The data samples ``model.test_step`` gives for ``data_root``'s test split (query
    items, then gallery items; junk dropped), in batches of ``batch_size`` as the demo's
    test data loader makes them; each has ``pred_feature``."""
    dataset = DATASETS.build(dict(model.cfg.test_dataloader.dataset, data_root=str(data_root),
                                  split='test'))
    samples = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            samples += model.test_step(pseudo_collate(batch))
    return samples
