"""Checking, before the first training iteration, that the model can take the images it will
be validated on.

An attention built for one map size (RGA with ``variable_size=False``, the RGANeck of a
segmentor, a fixed-size module of the attention zoo) refuses a map of another size, and
validation is where a map of another size first arrives: whole Cityscapes images after
training on crops, a test pipeline resized otherwise than the training one. mmengine runs
the first validation after ``val_interval`` epochs or iterations, so the refusal came hours
into a run. :func:`check_validation_size` sends the first validation image through the model
built afresh from the config and moved to PyTorch's ``meta`` device, where every operation
computes shapes only: the same checks run in about a second, with no memory for weights or
activations. A model that refuses the first training image as well is left to the first
training iteration, which stops with the module's own sentence.
"""
import copy
import logging

import torch
from mmengine.logging import print_log
from mmengine.registry import MODELS
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, Runner
from torch import Tensor, nn

from rga_mm.datasets.augmentation_seed import kept_random_states
from rga_mm.errors import ConfigError

META = torch.device('meta')


def network_inputs(model: nn.Module, inputs: Tensor, training: bool) -> Tensor:
    """The batch the network itself reads, from the data preprocessor's (B, 3, H, W)
    ``inputs``: the inputs themselves, or in validation, for an mmseg segmentor that tests
    by sliding windows (``test_cfg.mode='slide'``), one window, (B, 3, min(h, H), min(w, W))
    for a ``crop_size`` of (h, w), the size of every window mmseg cuts."""
    test_cfg = getattr(model, 'test_cfg', None) or {}
    if training or test_cfg.get('mode') != 'slide':
        return inputs
    crop_height, crop_width = test_cfg['crop_size']
    return inputs[..., :crop_height, :crop_width]


def meta_forward_refusal(model: nn.Module, batch: dict, training: bool = False
                         ) -> tuple[ConfigError, tuple[int, int] | None] | None:
    """What ``model`` (an mmengine ``BaseModel``; moved to the ``meta`` device and put in
    eval mode) refuses in its forward of the collated ``batch``: its data preprocessor (in
    training mode with ``training``, which e.g. pads mmseg's crops), then its forward in
    ``'tensor'`` mode on :func:`network_inputs`.

    Returns rga_mm's own refusal (a :class:`~rga_mm.errors.ConfigError`, which names the
    setting to change) and the (H, W) the network was given (None where the data
    preprocessor refused), or None: also where the forward fails otherwise (an operation
    without a ``meta`` implementation, a shape only data decide), which is left to the run
    itself and logged at debug level.
    """
    model.to(META).eval()
    inputs = None
    try:
        with torch.no_grad():
            data = model.data_preprocessor(batch, training)
            inputs = network_inputs(model, data['inputs'], training)
            model(inputs, data['data_samples'], mode='tensor')
    except ConfigError as error:
        return error, None if inputs is None else tuple(inputs.shape[-2:])
    except Exception as error:  # noqa: BLE001  (left to the run itself)
        print_log(f'a forward on the meta device before training failed ({error!r}); left '
                  f'to the run itself', logger='current', level=logging.DEBUG)
    return None


def first_batch(loop: BaseLoop) -> dict | None:
    """The first sample of ``loop``'s data loader through its pipeline and collate
    function, or None for a loop without one (no loop, an empty dataset)."""
    if loop is None or len(loop.dataloader.dataset) == 0:
        return None
    return loop.dataloader.collate_fn([loop.dataloader.dataset[0]])


def check_validation_size(runner: Runner) -> None:
    """Refuse a run whose model would stop at its first validation because an attention
    does not take the size of the validation images, though it takes the training ones.

    Reading ``runner.train_loop`` and ``runner.val_loop`` builds the loops and their data
    loaders, which ``train()`` reuses; a run without validation is not looked at. The first
    training and the first validation sample go through their data loader's pipeline and
    collate function, then through :func:`meta_forward_refusal` of a model built from
    ``runner.cfg.model``. A model that refuses the training sample is left to the first
    training iteration, which stops with the same sentence. The random states that
    building the model (its initial weights) and the pipelines draw from are restored
    after, so that a run trains as it would without the check.

    A run whose ``val_begin`` lies beyond its end never validates and is not looked at.

    Raises:
        ConfigError: the attention's sentence, with the image, its size at the network's
            input and when the first validation runs.
    """
    if runner.val_loop is None:
        return
    first_validation = _first_validation(runner)
    if first_validation is None:
        return
    with kept_random_states():  # training draws what it would draw without the check
        val_batch = first_batch(runner.val_loop)
        if val_batch is None:
            return
        model = MODELS.build(copy.deepcopy(runner.cfg.model))
        train_batch = first_batch(runner.train_loop)
        if train_batch is not None and meta_forward_refusal(model, train_batch, True):
            return
        refusal = meta_forward_refusal(model, val_batch)
    if refusal is not None:
        error, size = refusal
        given = '' if size is None else f' ({size[0]}×{size[1]} at the network\'s input)'
        raise ConfigError(f'validation would stop at its first image, '
                          f'{_image_name(val_batch)}{given}, after {first_validation} of '
                          f'training: {error}')


def _image_name(batch: dict) -> str:
    """The file of the collated sample ``batch``, or words for a sample without one."""
    samples = batch.get('data_samples') or [None]
    return getattr(samples[0], 'img_path', None) or 'the first sample'


def _first_validation(runner: Runner) -> str | None:
    """When mmengine's training loop first validates, e.g. 'epoch 20': the first multiple
    of ``val_interval`` from ``val_begin`` on, or the last epoch (iteration); None when
    ``val_begin`` lies beyond the end of training."""
    loop = runner.train_loop
    unit, end = (('epoch', loop.max_epochs) if isinstance(loop, EpochBasedTrainLoop) else
                 ('iteration', loop.max_iters))
    if loop.val_begin > end:
        return None
    first = -(-loop.val_begin // loop.val_interval) * loop.val_interval
    return f'{unit} {min(first, end)}'
