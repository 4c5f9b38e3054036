"""Data and metric settings that cannot work together stop the real tools before they train
or infer, in one sentence: a test split from a single camera under the default
``exclude_same_camera=True`` (found when the validation or test loop hands the dataset's
metainfo to the metric), and a metric switch given a string.

Data: the tiny synthetic Market-1501 copied into folders per person and read by
``CustomReIDFolders`` without a camera pattern, so that every image is camera 0. The demo
config is shrunk as in demo_runs.py; the tools run in this process (``main(argv)``), with
loop_steps_hook's ``RecordLoopStepsHook`` as their only custom hook, which records the
training epochs and test iterations they start.
"""
import re
from pathlib import Path

import pytest
import torch

from rga_mm.apis import init_model
import loop_steps_hook
from demo_runs import CONFIG, args, demo_overrides, tool
from reid_trees import market_as_folders

pytestmark = pytest.mark.slow

SINGLE_CAMERA = (r"ReIDMetric: every query and gallery image comes from camera 0, so the "
                 r"protocol \(no match from the query's own camera\) leaves no true match; "
                 r"give the dataset its cameras, or set exclude_same_camera=False in "
                 r"val_evaluator and test_evaluator for data without them")
# the custom hooks of every run here (in place of the demo's attention visualization)
RECORDED = ("custom_imports = dict(imports=['loop_steps_hook'])\n"
            "custom_hooks = [dict(type='RecordLoopStepsHook')]\n")


def recorded(base: Path, path: Path) -> Path:
    """A config at ``path`` that is ``base`` with the recording hook as its custom hook."""
    path.write_text(f"_base_ = [{str(base)!r}]\n" + RECORDED)
    return path


@pytest.fixture
def single_camera(tiny_market, tmp_path) -> tuple[Path, Path]:
    """(data_root, config): the tiny Market-1501's images in ``<split>/<person_id>/``, and
    the demo config reading them with ``CustomReIDFolders`` and no camera pattern."""
    root = tmp_path / 'single_camera'
    market_as_folders(tiny_market, root)
    config = tmp_path / 'single_camera_demo.py'
    dataset = f"dict(type='CustomReIDFolders', data_root={str(root)!r})"
    config.write_text(f"_base_ = [{str(CONFIG)!r}]\n"
                      f"train_dataloader = dict(dataset={dataset})\n"
                      f"val_dataloader = dict(dataset={dataset})\n"
                      f"test_dataloader = val_dataloader\n" + RECORDED)
    return root, config


@pytest.fixture
def calls() -> list[str]:
    """The training epochs and test iterations the tools start, by name (recorded by the
    runs' ``RecordLoopStepsHook``)."""
    loop_steps_hook.STARTED.clear()
    yield loop_steps_hook.STARTED
    loop_steps_hook.STARTED.clear()


def test_train_on_single_camera_data_stops_before_the_first_epoch(single_camera, calls,
                                                                   tmp_path):
    """Before, the epochs up to val_interval ran (and their checkpoint was written) and the
    first validation died with this sentence."""
    root, config = single_camera
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit, match=f'^{SINGLE_CAMERA}$'):
        tool('tools/train.py').main(args(config, '--work-dir', work_dir,
                                         *demo_overrides(root, 1)))
    assert calls == []
    assert not list(work_dir.glob('*.pth'))


def test_test_on_single_camera_data_stops_before_inference_unless_told(single_camera, calls,
                                                                       tmp_path):
    """tools/test.py refuses before running the model over the split; with
    exclude_same_camera=False it evaluates the same data."""
    root, config = single_camera
    weights = tmp_path / 'weights.pth'
    model = init_model(CONFIG, cfg_options={'model.head.num_classes': 8})
    torch.save({'state_dict': model.state_dict()}, weights)
    test = tool('tools/test.py')
    with pytest.raises(SystemExit, match=f'^{SINGLE_CAMERA}$'):
        test.main(args(config, weights, '--work-dir', tmp_path / 'test', *demo_overrides(root, 1)))
    assert calls == []

    test.main(args(config, weights, '--work-dir', tmp_path / 'told', *demo_overrides(root, 1),
                   'test_evaluator.exclude_same_camera=False'))
    assert calls and set(calls) == {'test iteration'}


def test_a_mistyped_switch_stops_train_before_the_first_epoch(tiny_market, calls, tmp_path):
    """``val_evaluator.rerank=Ture`` arrives as the string 'Ture', which is truthy: it would
    have re-ranked silently."""
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit, match=re.escape(
            "ReIDMetric: rerank takes True or False, got 'Ture' (str); set rerank=True or "
            "rerank=False")):
        tool('tools/train.py').main(args(recorded(CONFIG, tmp_path / 'demo.py'), '--work-dir',
                                         work_dir, *demo_overrides(tiny_market, 1),
                                         'val_evaluator.rerank=Ture'))
    assert calls == []
