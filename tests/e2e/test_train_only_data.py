"""Training on data with a train split only, as docs/reid.md ("Training without a test
split") tells: validation switched off, the test settings kept, so that the run's config
saved in the work dir still turns image files into model inputs for ``ReIDInferencer``.
The demo config's attention hook draws validation images: without validation it stops the
run before training in one sentence. Data: the tiny synthetic Market-1501's
``bounding_box_train`` alone; the tools run in this process."""
import shutil
from pathlib import Path

import pytest
import torch

from rga_mm.apis import ReIDInferencer
from demo_runs import CONFIG, args, tool
from tool_runs import run_in_process

pytestmark = pytest.mark.slow

NO_VALIDATION = ['val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']


@pytest.fixture
def train_only(tiny_market, tmp_path) -> Path:
    """A Market-1501 folder holding ``bounding_box_train`` alone."""
    root = tmp_path / 'train_only'
    root.mkdir()
    shutil.copytree(tiny_market / 'bounding_box_train', root / 'bounding_box_train')
    return root


def _train(data_root: Path, work_dir: Path, *options: str):
    return run_in_process(tool('tools/train.py'), *args(
        CONFIG, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'model.head.num_classes=8', 'train_cfg.max_epochs=1', *NO_VALIDATION, *options))


def test_the_attention_hook_without_validation_stops_before_training(train_only, tmp_path):
    result = _train(train_only, tmp_path / 'work')
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'AttentionVisualizationHook draws validation images, but the config has no '
        'val_dataloader / val_cfg: leave the hook out of custom_hooks to train without '
        'validation')
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_the_run_config_of_a_train_only_run_embeds_images(train_only, tmp_path):
    work_dir = tmp_path / 'work'
    result = _train(train_only, work_dir, 'custom_hooks=[]')
    assert result.returncode == 0, result.stderr[-3000:]
    run_config = work_dir / CONFIG.name
    images = sorted(str(p) for p in (train_only / 'bounding_box_train').glob('*.jpg'))[:3]
    inferencer = ReIDInferencer(str(run_config), str(work_dir / 'epoch_1.pth'), device='cpu',
                                show_progress=False)
    embeddings = inferencer(images)
    assert embeddings.shape == (3, 512)  # the demo's ResNet-18
    assert torch.isfinite(embeddings).all()
