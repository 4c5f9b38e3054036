"""AttentionVisualizationHook logs attention grids during training.

The demo config on a tiny synthetic Market-1501, trained in-process by an mmengine Runner
with the local and TensorBoard vis backends: the hook writes one PNG per image and step and
one TensorBoard image per image and step, with the grid's size, and it leaves training
untouched (same final weights as a run without the hook).
"""
from pathlib import Path

import mmcv
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rga_mm.engine.launch import load_config
from rga_mm.engine.launch.run_config import name_runs_apart
from rga_mm.errors import ConfigError
from rga_mm.registry import HOOKS
from rga_mm.visualization import AttentionExplanation, AttentionVisualizer

DEMO_CONFIG = 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
pytestmark = pytest.mark.slow
GATES = ('layer1', 'layer2', 'layer3', 'layer4')
HOOK_NAME = 'AttentionVisualizationHook'


def build_runner(data_root: Path, work_dir: Path, hooks: list,
                 train_cfg: dict = dict(by_epoch=True, max_epochs=2, val_interval=2),
                 **head: object) -> Runner:
    """The demo config on ``data_root`` with batches of 8, the given hooks and loop, and a
    head of 8 classes with the settings ``head``; read as the tools read it (the Runner
    formats its text once)."""
    cfg = load_config(DEMO_CONFIG)
    loader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=str(data_root)))
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), train_dataloader=dict(batch_size=8, **loader),
        val_dataloader=loader, test_dataloader=loader,
        model=dict(head=dict(num_classes=8, **head)),
        default_hooks=dict(logger=dict(interval=1), checkpoint=dict(interval=2))))
    cfg.train_cfg = train_cfg
    cfg.custom_hooks = hooks
    name_runs_apart(cfg)  # Runners built in one second would share mmengine's visualizer
    return Runner.from_cfg(cfg)


def train(data_root: Path, work_dir: Path, hooks: list) -> Runner:
    runner = build_runner(data_root, work_dir, hooks)
    runner.train()
    return runner


def logged_images(work_dir: Path) -> dict:
    """name → {step: (height, width)} of the images in the TensorBoard event file."""
    events, = work_dir.glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events), size_guidance={'images': 0})
    accumulator.Reload()
    return {tag: {event.step: (event.height, event.width)
                  for event in accumulator.Images(tag)}
            for tag in accumulator.Tags()['images']}


@pytest.mark.parametrize('by_epoch', [None, False])  # None: epochs, as the loop is by epoch
def test_hook_logs_grids_to_files_and_tensorboard(tiny_market, tmp_path, by_epoch):
    hook = dict(type='AttentionVisualizationHook', num_images=2, panel_height=64,
                by_epoch=by_epoch, interval=1 if by_epoch is None else 3)
    runner = train(tiny_market, tmp_path, [hook])
    iters_per_epoch = len(runner.train_dataloader)
    steps = [1, 2] if by_epoch is None else list(range(3, 2 * iters_per_epoch + 1, 3))

    dataset = runner.val_dataloader.dataset
    names = [Path(dataset[i]['data_samples'].img_path).stem for i in (0, len(dataset) - 1)]
    four_gates = AttentionExplanation(gates={name: torch.zeros(1) for name in GATES},
                                      cam=torch.zeros(1))
    expected_size = AttentionVisualizer(name='test_hook_size', panel_height=64).grid_size(
        (64, 32), four_gates)
    images = sorted(tmp_path.glob('*/vis_data/vis_image/*.png'))
    assert [p.name for p in images] == sorted(
        f'attention_{name}_{step}.png' for name in names for step in steps)
    for path in images:
        assert mmcv.imread(str(path)).shape == (*expected_size, 3)
    assert logged_images(tmp_path) == {
        f'attention_{name}': {step: expected_size for step in steps} for name in names}


def test_hook_does_not_change_training(tiny_market, tmp_path):
    hook = dict(type='AttentionVisualizationHook', num_images=1, panel_height=32)
    with_hook = train(tiny_market, tmp_path / 'with', [hook]).model.state_dict()
    without = train(tiny_market, tmp_path / 'without', []).model.state_dict()
    assert with_hook.keys() == without.keys()
    for key in with_hook:
        torch.testing.assert_close(with_hook[key], without[key], rtol=0, atol=0, msg=key)


def test_epoch_interval_on_an_iteration_loop_is_refused(tiny_market, tmp_path):
    runner = build_runner(tiny_market, tmp_path,
                          [dict(type='AttentionVisualizationHook', by_epoch=True)],
                          train_cfg=dict(by_epoch=False, max_iters=2, val_interval=2))
    with pytest.raises(ValueError, match='needs an epoch-based training loop, but the runner '
                                         'has IterBasedTrainLoop.*set by_epoch=False'):
        runner.train()


def test_a_target_class_on_a_reid_model_is_refused_before_training(tiny_market, tmp_path):
    runner = build_runner(tiny_market, tmp_path,
                          [dict(type='AttentionVisualizationHook', target_class=3)])
    with pytest.raises(ConfigError, match='AttentionVisualizationHook target_class 3 is for '
                                          'classification and segmentation models, but this '
                                          're-ID model has no classes'):
        runner.train()
    assert runner.iter == 0 and not list(tmp_path.glob('*.pth'))


@pytest.mark.parametrize('options, message', [
    (dict(interval='5'), "AttentionVisualizationHook interval must be a positive int (draw "
                         "every that many epochs or iterations), got '5'"),
    (dict(interval=2.5), 'AttentionVisualizationHook interval must be a positive int (draw '
                         'every that many epochs or iterations), got 2.5'),
    (dict(num_images=4.0), 'AttentionVisualizationHook num_images must be a positive int (the '
                           'validation images to draw), got 4.0'),
    (dict(indices=5), 'AttentionVisualizationHook indices must be a list of validation-set '
                      'indices (ints), got 5'),
    (dict(by_epoch='False'), "AttentionVisualizationHook by_epoch must be True or False, got "
                             "'False'"),
    (dict(weighting='elemnt'), "AttentionVisualizationHook weighting must be one of "
                               "('element', 'channel'), got 'elemnt'"),
    (dict(panel_height='256'), "AttentionVisualizationHook panel_height must be a positive int "
                               "(the height of each panel in pixels), got '256'"),
])
def test_a_hand_written_value_the_hook_cannot_use_is_refused_when_it_is_built(options, message):
    """A string for a number (a config written by hand), a float, a misspelt choice: each
    would fail, or silently count as true, at the first drawing, epochs into the run."""
    with pytest.raises(ConfigError) as refused:
        HOOKS.build(dict(type='AttentionVisualizationHook', **options))
    assert str(refused.value) == message


def test_a_misspelt_cam_layer_is_refused_before_training(tiny_market, tmp_path):
    runner = build_runner(tiny_market, tmp_path, [dict(type='AttentionVisualizationHook',
                                                      cam_layer='backbone.layer5')])
    with pytest.raises(ConfigError) as refused:
        runner.train()
    assert str(refused.value) == (
        "AttentionVisualizationHook cam_layer: the model has no submodule 'backbone.layer5' "
        "for the CAM; its top-level submodules are ['data_preprocessor', 'backbone', 'neck', "
        "'head']")
    assert runner.iter == 0 and not list(tmp_path.glob('*.pth'))


def test_more_images_than_the_validation_set_are_drawn_as_all_of_them(tiny_market, tmp_path,
                                                                       caplog):
    runner = build_runner(tiny_market, tmp_path, [dict(type='AttentionVisualizationHook',
                                                      num_images=10000)])
    hook = next(hook for hook in runner.hooks if type(hook).__name__ == HOOK_NAME)
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    try:
        hook.before_train(runner)
    finally:
        logger.removeHandler(caplog.handler)
    size = len(runner.val_dataloader.dataset)
    assert len(hook.images) == size
    assert (f'AttentionVisualizationHook num_images is 10000, and the validation set has '
            f'{size} items: it draws all of them every interval') in caplog.text


def test_a_model_that_refuses_any_image_is_refused_with_its_own_sentence(tiny_market, tmp_path):
    """A head built for other features: training would stop at its first image too, so the
    sentence is the module's, not one blaming the drawing of whole validation images."""
    runner = build_runner(tiny_market, tmp_path, [dict(type='AttentionVisualizationHook')],
                          in_channels=2048)
    with pytest.raises(ConfigError) as refused:
        runner.train()
    assert str(refused.value) == (
        'head: BNNeckHead was built for pooled features of 2048 channels '
        '(model.head.in_channels=2048) but the backbone and neck give it 512: set '
        'model.head.in_channels=512')
    assert runner.iter == 0
