"""Checking, before the first training iteration, that the model can take the images it will
be validated on.

An attention built for one map size (RGA with ``variable_size=False``, the RGANeck of a
segmentor, a fixed-size module of the attention zoo) refuses a map of another size, and
validation is where a map of another size first arrives: whole Cityscapes images after
training on crops, a test pipeline resized otherwise than the training one. mmengine runs
the first validation after ``val_interval`` epochs or iterations, so the refusal came hours
into a run. :func:`check_validation_size` sends the first validation image through the model
built afresh from the config and moved to PyTorch's ``meta`` device, where every operation
computes shapes only: the same checks run in seconds (the model is built once more), with
no memory for activations. A model that refuses the first training image as well is left to
the first training iteration, which stops with the module's own sentence.
"""
import bisect
import copy
import logging

import torch
from mmengine.logging import print_log
from mmengine.registry import MODELS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, Runner
from torch import Tensor, nn

from rga_mm.datasets.augmentation_seed import kept_random_states
from rga_mm.errors import ConfigError, MapSizeError, caused_by
from rga_mm.models.raising_module import placed_message
from rga_mm.models.unwrap import model_of

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


def meta_model(runner: Runner) -> nn.Module:
    """The runner's model on the ``meta`` device, in eval mode: built from
    ``runner.cfg.model`` (:func:`meta_model_from_config`), or, for a Runner given a module,
    a copy of that module."""
    model_cfg = runner.cfg.get('model')
    if not isinstance(model_cfg, dict):
        return copy.deepcopy(model_of(runner.model)).to(META).eval()
    return meta_model_from_config(model_cfg)


def meta_model_from_config(model_cfg: dict) -> nn.Module:
    """The model of ``model_cfg`` (left unchanged) on the ``meta`` device, in eval mode:
    built there where its constructors allow, else on the CPU and moved."""
    try:
        with torch.device(META):
            model = MODELS.build(copy.deepcopy(model_cfg))
    except Exception:  # noqa: BLE001  (a constructor that reads a value, e.g. with .item())
        model = MODELS.build(copy.deepcopy(model_cfg))
    return model.to(META).eval()


def network_data(model: nn.Module, batch: dict, training: bool = False) -> dict | tuple:
    """The collated ``batch`` through ``model``'s data preprocessor (in training mode with
    ``training``, which e.g. pads mmseg's crops), with its ``inputs`` replaced by
    :func:`network_inputs`: what the forward takes, as a dict of keyword arguments or a
    sequence of positional ones (as mmengine's ``BaseModel`` passes them)."""
    data = model.data_preprocessor(batch, training)
    if not isinstance(data, dict):
        return data
    return {**data, 'inputs': network_inputs(model, data['inputs'], training)}


def meta_forward(model: nn.Module, data: dict | tuple) -> None:
    """``model``'s forward in ``'tensor'`` mode on :func:`network_data` ``data``, without
    autograd (on the ``meta`` device: shapes only)."""
    with torch.no_grad():
        if isinstance(data, dict):
            model(**data, mode='tensor')
        else:
            model(*data, mode='tensor')


def _input_size(data: dict | tuple | None) -> str:
    """' (H×W at the network's input)' for :func:`network_data` ``data``, or ''."""
    inputs = data.get('inputs') if isinstance(data, dict) else data[0] if data else None
    if not isinstance(inputs, Tensor):
        return ''
    height, width = inputs.shape[-2:]
    return f" ({height}×{width} at the network's input)"


def first_batch(loop: object) -> dict | None:
    """The first sample of ``loop``'s data loader through its pipeline and collate
    function, or None for a loop without a data loader or with an empty dataset."""
    dataloader = getattr(loop, 'dataloader', None)
    dataset = getattr(dataloader, 'dataset', None)
    if dataset is None or len(dataset) == 0:
        return None
    return dataloader.collate_fn([dataset[0]])


def check_validation_size(runner: Runner) -> bool:
    """Refuse a run whose model would stop at its first validation because an attention
    does not take the size of the validation images, though it takes the training ones.

    Reading ``runner.train_loop`` and ``runner.val_loop`` builds the loops and their data
    loaders, which ``train()`` reuses. The first training and the first validation sample
    (each alone, as a batch of one) go through their data loader's pipeline and collate
    function, then through :func:`meta_forward` of :func:`meta_model`. A model that refuses
    the training sample is left to the first training iteration, which stops with the same
    sentence. The random states that building the model (its initial weights) and the
    pipelines draw from are restored after, so that a run trains as it would without the
    check. Only the first validation image is looked at: a validation set of several image
    sizes, or batches padded to their largest image, can still meet a size it refuses.

    Returns:
        True when the first validation image went through the model, False when the run
        was not looked at: no validation, or none before the end of training; no first
        sample; the training sample refused; or a forward that the meta device cannot run
        (an operation without a meta implementation, a value read with ``.item()``), which
        is logged and left to the run itself.

    Raises:
        ConfigError: the attention's sentence, with the image, its size at the network's
            input and, for mmengine's epoch- and iteration-based loops, when the first
            validation comes.
    """
    if runner.val_loop is None:
        return False
    when = _first_validation(runner.train_loop)
    if when is None:
        return False
    with kept_random_states():  # training draws what it would draw without the check
        val_batch = first_batch(runner.val_loop)
        if val_batch is None:
            return False
        model = meta_model(runner)
        try:
            train_batch = first_batch(runner.train_loop)
            if train_batch is not None:
                meta_forward(model, network_data(model, train_batch, training=True))
        except ConfigError:
            return False
        except Exception as error:  # noqa: BLE001  (the validation image may still run)
            _log_not_run('the first training image', error)
        data = None
        try:
            data = network_data(model, val_batch)
            meta_forward(model, data)
        except ConfigError as error:
            raise ConfigError(f'validation would stop at its first image, '
                              f'{_image_name(val_batch)}{_input_size(data)}{when}: '
                              f'{placed_message(error)}{both_sizes_note(error)}') from None
        except Exception as error:  # noqa: BLE001  (left to the validation itself)
            _log_not_run('the first validation image', error)
            return False
    return True


def both_sizes_note(error: ConfigError) -> str:
    """For a module that refused the validation map's size (a :class:`MapSizeError` in
    ``error``'s chain), after taking the training map's: rebuilding it for the validation size,
    as its own sentence offers, would refuse training instead."""
    if not caused_by(error, MapSizeError):
        return ''
    return ('; the training images fit its built size, so another spatial_size would refuse '
            'them: variable_size=True is the fix that takes both')


def _log_not_run(what: str, error: Exception) -> None:
    """Say, in the run's log, that ``what`` could not go through the model on the meta
    device (``error``), so the check did not look at it."""
    print_log(f'the model could not take {what} on the meta device before training '
              f'({error!r}), so its size was not checked there', logger='current',
              level=logging.INFO)


def _image_name(batch: dict) -> str:
    """The file of the collated sample ``batch``, or words for a sample without one."""
    samples = batch.get('data_samples') if isinstance(batch, dict) else None
    return getattr((samples or [None])[0], 'img_path', None) or 'the first sample'


def _first_validation(loop: object) -> str | None:
    """When mmengine's training ``loop`` validates next, as mmengine decides it after each
    epoch (iteration) e: e >= ``val_begin`` and e a multiple of the interval in force
    (``val_interval``, or a later one of ``dynamic_intervals``), or e the last. E.g.
    ', after epoch 20 of training'; '' for a loop of another kind; None when it validates
    no more before the end of training."""
    if isinstance(loop, EpochBasedTrainLoop):
        unit, done, end = 'epoch', loop.epoch, loop.max_epochs
    elif isinstance(loop, IterBasedTrainLoop):
        unit, done, end = 'iteration', loop.iter, loop.max_iters
    else:
        return ''
    for step in range(max(done + 1, loop.val_begin), end + 1):
        interval = loop.dynamic_intervals[bisect.bisect(loop.dynamic_milestones, step + 1) - 1]
        if step % interval == 0 or step == end:
            return f', after {unit} {step} of training'
    return None
