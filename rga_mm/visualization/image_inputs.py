"""Feeding image files to a model the way its config's test pipeline feeds dataset items.

OpenMMLab test pipelines start by loading from the dataset (``LoadImageFromFile``, and in
mmseg ``LoadAnnotations``); datasets such as mmpretrain's CIFAR hold decoded RGB arrays and
have no loading step at all. For image files named on a command line, the loading steps are
dropped and the file is read here, in the channel order the model was trained on: BGR where
the pipeline loads files (``LoadImageFromFile`` decodes to BGR), RGB for decoded-array
datasets (mmpretrain's CIFAR and MNIST store RGB).
"""
from collections.abc import Iterable, Sequence
from pathlib import Path

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from torch import Tensor

from rga_mm.errors import ConfigError

LOADING_TRANSFORMS = ('LoadImageFromFile', 'LoadAnnotations')


def component_name(component: object) -> str:
    """The class name a config entry builds or an object has, without a scope:
    ``dict(type='mmseg.LoadAnnotations')``, ``dict(type=LoadAnnotations)`` or a
    ``LoadAnnotations`` object → ``'LoadAnnotations'``."""
    if isinstance(component, dict):
        kind = component.get('type', '')
        return kind.rpartition('.')[2] if isinstance(kind, str) else kind.__name__
    return type(component).__name__


def pipeline_channel_order(pipeline: Iterable) -> str:
    """``'bgr'`` if the pipeline (transform configs or objects) loads image files, else
    ``'rgb'`` (module docstring)."""
    loads_files = any(component_name(t) == 'LoadImageFromFile' for t in pipeline)
    return 'bgr' if loads_files else 'rgb'


def config_test_pipeline(cfg: Config) -> list | None:
    """The transforms of ``test_dataloader.dataset.pipeline`` (looking through dataset
    wrappers, which keep theirs in ``dataset``); ``None`` when the config has none."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    while 'pipeline' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset.get('pipeline')


def resize_scale(test_pipeline: Sequence) -> tuple[int, int, bool] | None:
    """(height, width, keep_ratio) of the first ``Resize`` of ``test_pipeline`` that gives
    a ``scale`` (width, height, or one side for both), or None where none does (CIFAR's
    pipeline, or a ``Resize`` by ``scale_factor``)."""
    for step in test_pipeline:
        scale = step.get('scale') if component_name(step) == 'Resize' else None
        if scale is not None:
            width, height = (scale, scale) if isinstance(scale, int) else scale
            return int(height), int(width), bool(step.get('keep_ratio', False))
    return None


def fixed_resize_size(test_pipeline: Sequence) -> tuple[int, int] | None:
    """(height, width) that ``test_pipeline`` resizes every image to (:func:`resize_scale`
    without ``keep_ratio``, as the re-ID configs'), or None: no such step, or one that keeps
    the aspect ratio (the Cityscapes configs')."""
    scale = resize_scale(test_pipeline)
    return None if scale is None or scale[2] else scale[:2]


def required_test_pipeline(cfg: Config) -> list:
    """:func:`config_test_pipeline`, or a :class:`ConfigError` naming the config and the fix
    when it has none (a config written for training and validation only)."""
    pipeline = config_test_pipeline(cfg)
    if pipeline is None:
        raise ConfigError(
            f'{cfg.filename or "the config"} has no test_dataloader.dataset.pipeline, which '
            f'turns image files into model inputs; add a test_dataloader (OpenMMLab configs '
            f'usually set test_dataloader = val_dataloader)')
    return pipeline


def file_pipeline(test_pipeline: Sequence[dict]) -> tuple[Compose, str]:
    """A test pipeline config → (the pipeline without its loading steps, the channel order
    files must be read in). Transforms are built in the current default registry scope
    (:func:`rga_mm.apis.init_model` sets the config's)."""
    kept = [t for t in test_pipeline if component_name(t) not in LOADING_TRANSFORMS]
    return Compose(kept), pipeline_channel_order(test_pipeline)


def load_image_file(path: str, pipeline: Compose, channel_order: str,
                    input_size: tuple[int, int] | None = None) -> dict:
    """Read ``path`` and run ``pipeline`` on it → the packed data dict (``inputs``,
    ``data_samples``).

    Args:
        input_size: (height, width) to resize the image to before the pipeline (for
            pipelines without a resize step, e.g. CIFAR's).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'image {path} does not exist')
    image = mmcv.imread(path)  # BGR, None when OpenCV cannot decode the file
    if image is None:
        raise ValueError(f'image {path} could not be decoded (not an image file?)')
    if channel_order == 'rgb':
        image = np.ascontiguousarray(image[..., ::-1])
    if input_size is not None:
        image = mmcv.imresize(image, (input_size[1], input_size[0]))
    shape = image.shape[:2]
    return pipeline(dict(img=image, img_path=str(path), ori_shape=shape, img_shape=shape))


def displayed_image(packed_inputs: Tensor, channel_order: str) -> np.ndarray:
    """(3, H, W) packed uint8 inputs of a pipeline → (H, W, 3) RGB uint8 image."""
    image = packed_inputs.detach().cpu().numpy().transpose(1, 2, 0)
    if channel_order == 'bgr':
        image = image[..., ::-1]
    return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))
