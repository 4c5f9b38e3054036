"""Exporting a model built from an rga_mm config to ONNX, and checking the file with ONNX
Runtime against PyTorch.

As in OpenMMLab's deployment tools, the graph starts after the config's data preprocessor:
it takes a normalised float32 image batch (B, 3, H, W) and returns one tensor.

==============================  ===========================  ===============================
model                           output                       what it is
==============================  ===========================  ===============================
``ReIDModel``                   ``embedding`` (B, D)         the test embedding
mmpretrain ``ImageClassifier``  ``logits`` (B, K)            class scores before the softmax
mmseg segmentor                 ``seg_logits`` (B, K, H, W)  class scores at the input size
any other model                 ``output``                   what ``mode='tensor'`` returns
==============================  ===========================  ===============================

A segmentor's decode head works at a fraction of the input size (1/8 for the d8 models);
the graph includes the bilinear resize to the input size that mmseg's whole-image
inference applies, so ``argmax`` over the class axis is the label map. Slide-window
inference is not part of the graph.

The exporter is ``torch.onnx.export(dynamo=True)`` (``torch.export`` and onnxscript). The
TorchScript exporter (``dynamo=False``, deprecated) cannot export PSPNet's adaptive average
pooling when a bin count does not divide the map side (3 or 6 bins on a side of 10), which
``torch.export`` decomposes into ordinary ONNX operators.

An RGA module of ``variable_size=True`` pools onto its reference grid with two matrix
products whose matrices follow from the input size (docs/architecture.md, "Variable input
sizes"); in the graph they are two MatMuls against constant matrices, so a file serves the
one (H, W) it was exported for, and ``dynamic_batch`` leaves only the batch size free.
"""
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel, revert_sync_batchnorm
from torch import Tensor, nn

from rga_mm.apis.output_files import replaced_when_written, write_failure
from rga_mm.errors import MapSizeError, caused_by, first_line
from rga_mm.visualization.image_inputs import config_test_pipeline, pipeline_channel_order

if TYPE_CHECKING:  # the deploy extra, imported where it is used
    import onnx

RELATIVE_TOLERANCE = 1e-4
INPUT_NAME = 'input'
DEPLOY_EXTRA = "pip install 'rga_mm[deploy]' (onnx, onnxscript and onnxruntime)"


class ExportError(ValueError):
    """A model that cannot be exported or checked as asked; the message says why."""


def require_deploy() -> None:
    """Raise one sentence naming the ``deploy`` extra when onnx, onnxscript or onnxruntime
    cannot be imported."""
    missing = []
    for name in ('onnx', 'onnxscript', 'onnxruntime'):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f'ONNX export needs {", ".join(missing)}, which cannot be imported '
                          f'here; install the deploy extra: {DEPLOY_EXTRA}')


def newest_opset() -> int:
    """The newest ONNX opset the exporter can write: the newest the installed onnx defines.

    ``torch.onnx.export(dynamo=True)`` builds the graph at opset 18 or later and converts it
    to the opset asked for with onnxscript's version converter, falling back to onnx's,
    which accepts no opset newer than its own ``onnx.defs.onnx_opset_version()``.
    """
    require_deploy()
    import onnx
    return onnx.defs.onnx_opset_version()


def check_opset(opset: int | None, name: str = 'opset') -> None:
    """Raise an :class:`ExportError` naming ``name`` (the option that gave it) for an opset
    newer than :func:`newest_opset`; ``None`` (the exporter's default) passes."""
    newest = newest_opset()
    if opset is not None and opset > newest:
        raise ExportError(f'{name} {opset} is newer than opset {newest}, the newest the '
                          f'installed onnx defines and so the newest the exporter can write; '
                          f'ask for opset {newest} or older')


# onnxscript's loggers whose warnings during an export are no news to the user: a failed
# conversion to an older opset (with the traceback of onnx's C API; the export reports it in
# one sentence, see export_onnx) and constant folding left out for ops with several outputs
QUIETED_LOGGERS = ('onnxscript.version_converter', 'onnxscript.optimizer._constant_folding')


@contextmanager
def _quiet_onnxscript() -> Iterator[None]:
    """Within the block the :data:`QUIETED_LOGGERS` log errors only."""
    loggers = [logging.getLogger(name) for name in QUIETED_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _is_segmentor(model: nn.Module) -> bool:
    # an mmseg model can only exist once mmseg has been imported, so no import is needed
    segmentors = sys.modules.get('mmseg.models.segmentors')
    return segmentors is not None and isinstance(model, segmentors.BaseSegmentor)


def output_name_of(model: nn.Module) -> str:
    """The name of the graph's output: ``embedding``, ``logits``, ``seg_logits`` or
    ``output`` (see the module docstring)."""
    from mmpretrain.models import ImageClassifier

    from rga_mm.models.reid import ReIDModel
    if _is_segmentor(model):
        return 'seg_logits'
    if isinstance(model, ReIDModel):
        return 'embedding'
    if isinstance(model, ImageClassifier) and model.with_head:
        return 'logits'
    return 'output'


class ExportedForward(nn.Module):
    """The tensor path of a model, as exported: (B, 3, H, W) → one tensor.

    mmengine models run ``forward(inputs, mode='tensor')``; a segmentor's logits are then
    resized to the input size as mmseg's whole-image inference does (its ``resize`` is
    ``F.interpolate``); any other ``nn.Module`` is called on the batch.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.output_name = output_name_of(model)
        self.resize_to_input = _is_segmentor(model)

    def forward(self, inputs: Tensor) -> Tensor:
        if isinstance(self.model, BaseModel):
            outputs = self.model(inputs, mode='tensor')
        else:
            outputs = self.model(inputs)
        if self.resize_to_input:
            outputs = F.interpolate(outputs, size=inputs.shape[2:], mode='bilinear',
                                    align_corners=getattr(self.model, 'align_corners', False))
        return outputs


def prepare_for_export(model: nn.Module) -> ExportedForward:
    """``model`` in eval mode with SyncBN layers made plain BN (mmseg's configs use SyncBN,
    which only synchronises in distributed training), wrapped in :class:`ExportedForward`."""
    return ExportedForward(revert_sync_batchnorm(model)).eval()


@dataclass(frozen=True)
class Preprocessing:
    """What an image needs before the exported graph sees it: the config's data
    preprocessor, which is not part of the graph.

    Attributes:
        mean, std: per-channel statistics on the 0-255 scale, in the graph's channel order
            (``None``: no normalisation).
        reverse_channels: the preprocessor reverses the channel order of what the test
            pipeline delivers (``to_rgb``, ``bgr_to_rgb`` or ``rgb_to_bgr``).
        source_order: ``'bgr'`` when the test pipeline reads image files (OpenCV decodes to
            BGR), ``'rgb'`` for datasets of decoded RGB arrays (CIFAR); ``None`` when the
            config has no test pipeline to tell it.
    """
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    reverse_channels: bool
    source_order: str | None = None

    @property
    def channel_order(self) -> str | None:
        """``'rgb'`` or ``'bgr'``, the order the graph takes: the test pipeline's, reversed
        when the preprocessor swaps channels; ``None`` where the source order is unknown."""
        if self.source_order is None or not self.reverse_channels:
            return self.source_order
        return 'rgb' if self.source_order == 'bgr' else 'bgr'

    def describe_order(self) -> str:
        """The graph's channel order, where it comes from, and what images read with
        OpenCV need."""
        step = ('the data preprocessor reverses that order' if self.reverse_channels
                else 'the data preprocessor keeps that order')
        if self.channel_order is None:
            return (f"channels in the order the config's test pipeline delivers them, which "
                    f'the config does not tell (no test_dataloader.dataset.pipeline); {step}')
        source = ('the test pipeline reads image files as BGR' if self.source_order == 'bgr'
                  else 'the dataset holds RGB images')
        hint = ('images read with cv2 or mmcv are BGR: reverse their channels'
                if self.channel_order == 'rgb' else 'as cv2 and mmcv read images')
        return f'channels in {self.channel_order.upper()} order ({source} and {step}; {hint})'

    def describe(self, shape: Sequence[int]) -> str:
        """One paragraph for a user who feeds the graph images of (H, W) = ``shape``."""
        height, width = shape
        if self.mean is None:
            values = 'pixel values as the pipeline delivers them (no normalisation)'
        else:
            values = (f'each channel normalised as (value - mean) / std on the 0-255 scale '
                      f'with mean = {_numbers(self.mean)} and std = {_numbers(self.std)}')
        return (f'float32 (B, 3, {height}, {width}): images resized to {height}×{width} '
                f'(H×W), {self.describe_order()}, {values}, in (B, C, H, W) layout')

    def to_json(self) -> str:
        """The file's ``preprocessing`` metadata: mean, std, reverse_channels and
        channel_order (the graph's, ``'rgb'`` or ``'bgr'``)."""
        return json.dumps(dict(mean=self.mean, std=self.std,
                               reverse_channels=self.reverse_channels,
                               channel_order=self.channel_order))


def _numbers(values: Sequence[float]) -> str:
    return '(' + ', '.join(str(v) for v in values) + ')'


def preprocessing_of(cfg: Config) -> Preprocessing:
    """The normalisation and channel order of the config's data preprocessor (mmengine's,
    mmpretrain's or mmseg's): ``model.data_preprocessor``, else the top-level
    ``data_preprocessor``, which mmengine's Runner merges into the model (the CIFAR configs
    keep it there). The graph's channel order is the test pipeline's
    (``pipeline_channel_order`` of :mod:`rga_mm.visualization.image_inputs`), reversed when
    the preprocessor swaps channels: RGB for rga_mm's re-ID, CIFAR and Cityscapes configs."""
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    mean, std = preprocessor.get('mean'), preprocessor.get('std')
    # mmpretrain: to_rgb; mmengine and mmseg: bgr_to_rgb or rgb_to_bgr (the same swap)
    reverse = any(preprocessor.get(key, False)
                  for key in ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr'))
    pipeline = config_test_pipeline(cfg)
    source = None if pipeline is None else pipeline_channel_order(pipeline)
    if mean is None or std is None:
        return Preprocessing(None, None, reverse, source)
    return Preprocessing(tuple(float(v) for v in mean), tuple(float(v) for v in std), reverse,
                         source)


def describe_output(module: ExportedForward, shape: Sequence[int]) -> str:
    """What the graph's output means, for the user of the file."""
    model, name = module.model, module.output_name
    test_cfg = getattr(model, 'test_cfg', None) or {}
    if name == 'embedding':
        note = ''
        if test_cfg.get('flip'):
            note = ('; the config averages the embeddings of each image and of its mirror '
                    '(test_cfg.flip), the graph computes one pass: run it on both and '
                    'average')
        return (f"'{name}' (B, D): the re-ID test embedding, compared by the config's "
                f"test distance (cosine for rga_mm's configs){note}")
    if name == 'logits':
        return f"'{name}' (B, K): class scores before the softmax"
    if name == 'seg_logits':
        note = ''
        if test_cfg.get('mode') == 'slide':
            note = ('; the config tests with slide windows, the graph runs the whole '
                    'image in one pass')
        return (f"'{name}' (B, K, {shape[0]}, {shape[1]}): class scores resized to the input "
                f'size, argmax over K gives the label map{note}')
    return f"'{name}': what the model returns in mode='tensor'"


# after a module's refusal of a map size: the checkpoint exported was trained at the sizes
# the config builds
TRAINED_SIZE_NOTE = ('; the checkpoint\'s weights fit the map sizes the config builds, so a '
                     'module rebuilt with another spatial_size would not load them: export at '
                     'the config\'s input size, or set variable_size=True on its RGA modules, '
                     'which take other sizes with the same weights')


def run_pytorch(module: nn.Module, inputs: Tensor) -> Tensor:
    """The module's output on ``inputs``; a model that refuses the input (an RGA module
    built for another map size, ...) or returns no single tensor is an
    :class:`ExportError`."""
    try:
        with torch.no_grad():
            outputs = module(inputs)
    except (ValueError, RuntimeError) as error:
        size = '×'.join(map(str, inputs.shape[2:]))
        note = TRAINED_SIZE_NOTE if caused_by(error, MapSizeError) else ''
        raise ExportError(f'the model does not accept a {size} input '
                          f'{tuple(inputs.shape)}: {first_line(error)}{note}') from error
    if not isinstance(outputs, Tensor):
        raise ExportError(f"the model returns a {type(outputs).__name__} in mode='tensor', "
                          f'not one tensor; export a model whose tensor path gives one (a '
                          f're-ID embedding, classifier logits, segmentation logits)')
    return outputs


def random_images(batch: int, shape: Sequence[int], seed: int = 0) -> Tensor:
    """A normalised image batch (batch, 3, H, W) of standard normal values."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, *shape, generator=generator)


@dataclass(frozen=True)
class ExportedFile:
    path: str
    opset: int
    input_shape: tuple
    output_shape: tuple


def export_onnx(module: nn.Module,
                path: str | Path,
                shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int | None = None,
                metadata: dict | None = None,
                check: Callable[[str], None] | None = None) -> ExportedFile:
    """Export ``module`` for (B, 3, H, W) inputs with (H, W) = ``shape`` and save it.

    The batch is 1, or free with ``dynamic_batch`` (traced at 2: ``torch.export``
    specialises a dimension it sees at size 1). ``module`` is run in PyTorch first, so a
    shape it refuses is reported in its own words. ``opset=None`` takes the exporter's
    default; an opset the exporter could not produce (it writes opset 18 or later and
    converts down only some graphs; none newer than :func:`newest_opset`) is an error
    rather than a file of another opset.
    ``metadata`` goes into the file's ``metadata_props``, with :func:`shape_metadata`.
    The file is written whole or not at all (:func:`save_checked`, which calls ``check``).
    """
    require_deploy()
    check_opset(opset)
    output_name = getattr(module, 'output_name', 'output')
    try:
        example = random_images(2 if dynamic_batch else 1, shape)
    except RuntimeError as error:  # the allocator's "can't allocate memory"
        raise ExportError(f'cannot allocate an example input of {shape[0]}×{shape[1]} pixels '
                          f'to trace the model with ({first_line(error)}); give a smaller '
                          f'--shape') from error
    # an eager run first: a size the model refuses fails here with the model's own message
    run_pytorch(module, example)
    dynamic_shapes = ({0: torch.export.Dim('batch', min=1)}, ) if dynamic_batch else None
    size = '×'.join(map(str, shape))
    try:
        with warnings.catch_warnings(), torch.no_grad(), _quiet_onnxscript():
            warnings.filterwarnings('ignore', category=FutureWarning,
                                    message='.*treespec, LeafSpec')
            program = torch.onnx.export(
                module, (example, ), None, dynamo=True, opset_version=opset, verbose=False,
                input_names=[INPUT_NAME], output_names=[output_name],
                dynamic_shapes=dynamic_shapes)
    except Exception as error:
        raise ExportError(f'torch.onnx.export could not export the model at {size}: '
                          f'{type(error).__name__}: {first_line(error)}') from error
    batch = program.model.graph.inputs[0].shape[0]
    if dynamic_batch and isinstance(batch, int):
        raise ExportError(f'a free batch size was asked for, but the model fixed it at '
                          f'{batch} while being exported (its forward reads the batch size as '
                          f'a number); export without a dynamic batch, one file per batch size')
    written = program.model.opset_imports.get('', None)
    if opset is not None and written != opset:
        raise ExportError(f'opset {opset} was asked for but the exporter wrote opset '
                          f'{written}: it could not convert this graph to opset {opset}; ask '
                          f'for opset {written}')
    program.model.metadata_props.update({**(metadata or {}),
                                         **shape_metadata(shape, dynamic_batch)})
    graph = save_checked(program, path, check)
    return ExportedFile(str(path), written, _shape_of(graph.input[0]),
                        _shape_of(graph.output[0]))


def save_checked(program: torch.onnx.ONNXProgram, path: str | Path,
                 check: Callable[[str], None] | None = None) -> 'onnx.GraphProto':
    """Save the exported ``program`` as ``path``: written to ``path.partial`` beside it,
    checked by onnx's checker and by ``check`` (called with the temporary file's path, e.g.
    to compare it with PyTorch) and renamed into place (:mod:`rga_mm.apis.output_files`), so
    that an earlier file is replaced by a complete one that passed both only. Returns the
    saved graph.

    Raises:
        ExportError: the file could not be written (a full disk, a file-size limit, no write
            permission); ``path`` is as it was and no temporary file is left.
        Exception: what ``check`` raises; ``path`` is as it was, and the temporary file is
            removed unless ``check`` moved it.
    """
    import onnx
    try:
        with replaced_when_written(path) as partial:
            program.save(partial, external_data=False)  # external data only beyond 2 GB
            onnx.checker.check_model(partial)
            graph = onnx.load(partial, load_external_data=False).graph
            if check is not None:
                check(partial)
            return graph
    except OSError as error:
        raise ExportError(f'{write_failure(path, error, "choose another path")}, and export '
                          f'again') from error


def shape_metadata(shape: Sequence[int], dynamic_batch: bool) -> dict[str, str]:
    """The file's ``input_size`` (the (H, W) it was exported for, as a JSON list) and
    ``dynamic_batch`` (JSON ``true`` or ``false``) metadata, for a user who resizes images
    to the size the file serves."""
    return dict(input_size=json.dumps([int(side) for side in shape]),
                dynamic_batch=json.dumps(bool(dynamic_batch)))


def _shape_of(value_info) -> tuple:
    return tuple(d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim)


def relative_difference(reference: np.ndarray, result: np.ndarray) -> tuple[float, float]:
    """(max |Δ|, max |Δ| / max |reference|): the largest absolute difference, and the same
    relative to the largest reference value (0 when both are 0, inf when only the
    reference is)."""
    max_abs = float(np.abs(result.astype(np.float64) - reference).max())
    scale = float(np.abs(reference).max())
    if scale == 0:
        return max_abs, 0.0 if max_abs == 0 else float('inf')
    return max_abs, max_abs / scale


@dataclass(frozen=True)
class Difference:
    """ONNX Runtime against PyTorch on one batch: max |Δ|, that relative to the largest
    |PyTorch output|, and that largest output."""
    batch: int
    max_abs: float
    relative: float
    largest_output: float


def compare_with_onnxruntime(path: str | Path, module: nn.Module,
                             shape: Sequence[int], batch_sizes: Sequence[int] = (1, ),
                             seed: int = 1) -> list[Difference]:
    """Run the file with ONNX Runtime (CPU) and ``module`` with PyTorch on random
    normalised images of each batch size; the differences per batch size."""
    require_deploy()
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    differences = []
    for index, batch in enumerate(batch_sizes):
        images = random_images(batch, shape, seed + index)
        reference = run_pytorch(module, images).numpy()
        try:
            result, = session.run(None, {INPUT_NAME: images.numpy()})
        except Exception as error:
            raise ExportError(f'ONNX Runtime cannot run {path} on a {tuple(images.shape)} '
                              f'input: {first_line(error)}') from error
        if result.shape != reference.shape:
            raise ExportError(f'{path} returns shape {result.shape} for a '
                              f'{tuple(images.shape)} input, PyTorch {reference.shape}')
        differences.append(Difference(batch, *relative_difference(reference, result),
                                      largest_output=float(np.abs(reference).max())))
    return differences
