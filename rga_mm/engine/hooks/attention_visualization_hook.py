"""Training-time pictures of what RGA attends to, logged through the runner's visualizer.

Example (any task; mmseg and mmpretrain configs write ``type='rga_mm.Attention...'``)::

    custom_hooks = [dict(type='AttentionVisualizationHook', num_images=4, interval=10)]
    visualizer = dict(type='Visualizer', vis_backends=[
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

Every ``interval`` epochs of an epoch-based training loop (iterations of an iteration-based
one, as mmseg's and mmpretrain's CIFAR schedules use) the hook draws the
:class:`~rga_mm.visualization.AttentionVisualizer` grid (input, RGA spatial gates, CAM) of
the same validation images and sends each one to the runner's visualizer as the image
``attention_<image name>`` at that step: ``LocalVisBackend`` writes
``<work_dir>/<timestamp>/vis_data/vis_image/attention_<image name>_<step>.png``,
``TensorboardVisBackend`` an image series per name.

The hook explains whole validation images, also for a segmentor that tests by sliding windows;
before training, each image goes through the model on PyTorch's ``meta`` device (as
:func:`rga_mm.engine.validation_size.check_validation_size` sends the first validation image),
so that an attention built for another map size stops the run at once with its sentence,
not at the first drawing, hours in and before that step's checkpoint is written.
"""
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mmengine.dataset import pseudo_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, Runner

from rga_mm.checks import flag, is_int, positive_int
from rga_mm.datasets.augmentation_seed import kept_random_states
from rga_mm.errors import ConfigError, MapSizeError, caused_by
from rga_mm.models.raising_module import placed_message
from rga_mm.models.unwrap import model_of
from rga_mm.registry import HOOKS
from rga_mm.visualization import AttentionVisualizer, explain_packed_item
from rga_mm.visualization.explain import cam_layer_candidates, check_target_class
from rga_mm.visualization.grad_cam import check_weighting
from rga_mm.visualization.image_inputs import displayed_image, pipeline_channel_order
from ..validation_size import META, both_sizes_note, meta_forward, meta_model

HOOK = 'AttentionVisualizationHook'


def checked_indices(indices: object) -> list[int]:
    """``indices`` (validation-set indices) as a list of ints, or one sentence."""
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Sequence) or not all(
            is_int(index) for index in indices):
        raise ConfigError(f'{HOOK} indices must be a list of validation-set indices (ints), '
                          f'got {indices!r}')
    return [int(index) for index in indices]


@HOOKS.register_module()
class AttentionVisualizationHook(Hook):
    """Log attention grids of fixed validation images during training.

    Args:
        num_images: how many validation images, spread evenly over the validation set
            (ignored when ``indices`` is given).
        indices: validation-set indices of the images to draw.
        interval: draw every ``interval`` epochs (``by_epoch=True``) or iterations.
        by_epoch: count ``interval`` in epochs or in iterations; default: epochs for an
            ``EpochBasedTrainLoop``, iterations for any other loop.
        cam_layer, target_class, weighting: see
            :func:`rga_mm.visualization.explain_attention`.
        panel_height: displayed height of each panel in pixels.
    """

    priority = 'LOW'

    def __init__(self, num_images: int = 4, indices: Sequence[int] | None = None,
                 interval: int = 1, by_epoch: bool | None = None,
                 cam_layer: str | None = None, target_class: int | None = None,
                 weighting: str = 'element', panel_height: int = 256) -> None:
        self.interval = positive_int(interval, f'{HOOK} interval',
                                     'draw every that many epochs or iterations')
        self.num_images = (num_images if indices is not None else positive_int(
            num_images, f'{HOOK} num_images', 'the validation images to draw'))
        self.indices = None if indices is None else checked_indices(indices)
        self.by_epoch = None if by_epoch is None else flag(by_epoch, f'{HOOK} by_epoch')
        check_weighting(weighting, f'{HOOK} weighting')
        if cam_layer is not None and not isinstance(cam_layer, str):
            raise ConfigError(f"{HOOK} cam_layer must be a dotted submodule name such as "
                              f"'backbone.layer4', or None for the default, got {cam_layer!r}")
        self.explain_options = dict(cam_layer=cam_layer, target_class=target_class,
                                    weighting=weighting)
        self.drawer = AttentionVisualizer(
            name=f'attention_hook_{id(self)}',
            panel_height=positive_int(panel_height, f'{HOOK} panel_height',
                                      'the height of each panel in pixels'))
        self.images: list[dict] = []
        self.names: list[str] = []
        self.channel_order = 'bgr'

    def before_train(self, runner: Runner) -> None:
        """Settle epochs vs iterations; pick the images and run them through the validation
        pipeline once."""
        epoch_loop = isinstance(runner.train_loop, EpochBasedTrainLoop)
        if self.by_epoch is None:
            self.by_epoch = epoch_loop
        elif self.by_epoch and not epoch_loop:
            raise ConfigError(f'AttentionVisualizationHook(by_epoch=True) needs an epoch-based '
                              f'training loop, but the runner has '
                              f'{type(runner.train_loop).__name__}, whose single epoch never '
                              f'ends before training does: set by_epoch=False (or leave it '
                              f'unset) to count the interval in iterations')
        check_target_class(runner.model, self.explain_options['target_class'],
                           'AttentionVisualizationHook target_class')
        try:  # a misspelt layer would stop the run at its first drawing
            cam_layer_candidates(model_of(runner.model), self.explain_options['cam_layer'])
        except ValueError as error:
            raise ConfigError(f'{HOOK} cam_layer: {error}') from None
        if runner.val_loop is None:
            raise ConfigError('AttentionVisualizationHook draws validation images, but the '
                              'config has no val_dataloader / val_cfg: leave the hook out of '
                              'custom_hooks to train without validation')
        dataset = runner.val_dataloader.dataset
        if len(dataset) == 0:
            raise ConfigError('AttentionVisualizationHook: the validation set is empty')
        indices = self.indices
        if indices is None:
            count = min(self.num_images, len(dataset))
            if count < self.num_images:
                print_log(f'{HOOK} num_images is {self.num_images}, and the validation set '
                          f'has {len(dataset)} items: it draws all of them every interval',
                          logger='current', level=logging.WARNING)
            indices = np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist()
        outside = [i for i in indices if not 0 <= i < len(dataset)]
        if outside:
            raise ConfigError(f'AttentionVisualizationHook indices {outside} are outside the '
                              f'validation set of {len(dataset)} items')
        self.images = [dataset[i] for i in indices]
        self.names = [self._image_name(data, i) for data, i in zip(self.images, indices)]
        self.channel_order = pipeline_channel_order(dataset.pipeline.transforms)
        self.check_images_fit(runner)

    def check_images_fit(self, runner: Runner) -> None:
        """Send each image of a size not yet sent through the model on the ``meta`` device,
        whole, as :meth:`log_attention` explains it; a ``ConfigError`` naming the hook and
        the image for an attention that refuses its map size, and the module's own for any
        other refusal (a head built for other features), which training would meet too. A
        forward the meta device cannot run is left to the drawing."""
        with kept_random_states():  # building the model draws initial weights
            model = meta_model(runner)
        preprocess = model_of(runner.model).data_preprocessor  # the meta one reads no values
        sizes = set()
        for name, data in zip(self.names, self.images):
            inputs = preprocess(pseudo_collate([data]), False)['inputs']
            if inputs.shape[-2:] in sizes:
                continue
            sizes.add(inputs.shape[-2:])
            try:
                meta_forward(model, dict(inputs=inputs.to(META)))
            except ConfigError as error:
                if not caused_by(error, MapSizeError):  # the model's own fault, hook or not
                    raise ConfigError(placed_message(error)) from None
                height, width = inputs.shape[-2:]
                raise ConfigError(
                    f'AttentionVisualizationHook explains whole validation images, and '
                    f'{name} ({height}×{width} at the network\'s input) would stop the run at '
                    f'its first drawing: {placed_message(error)}{both_sizes_note(error)}; '
                    f'or leave the hook out') from None
            except Exception:  # noqa: BLE001  (no meta implementation: left to the drawing)
                return

    def after_train_epoch(self, runner: Runner) -> None:
        """Log the grids every ``interval`` epochs of an epoch-based run."""
        if self.by_epoch and self.every_n_epochs(runner, self.interval):
            self.log_attention(runner, step=runner.epoch + 1)

    def after_train_iter(self, runner: Runner, batch_idx: int,
                         data_batch: dict | tuple | list | None = None,
                         outputs: dict | None = None) -> None:
        """Log the grids every ``interval`` iterations of an iteration-based run."""
        if not self.by_epoch and self.every_n_train_iters(runner, self.interval):
            self.log_attention(runner, step=runner.iter + 1)

    def log_attention(self, runner: Runner, step: int) -> None:
        """Draw every image's grid with the current weights and log it at ``step``."""
        if not is_main_process():
            return
        model = model_of(runner.model)
        was_training = model.training
        model.eval()
        try:
            for name, data in zip(self.names, self.images):
                explanation = explain_packed_item(model, data, **self.explain_options)
                grid = self.drawer.draw_attention_grid(
                    displayed_image(data['inputs'], self.channel_order), explanation)
                runner.visualizer.add_image(f'attention_{name}', grid, step)
        finally:
            model.train(was_training)

    @staticmethod
    def _image_name(data: dict, index: int) -> str:
        path = data['data_samples'].metainfo.get('img_path')
        return Path(path).stem if path else f'val{index}'
