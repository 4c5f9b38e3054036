"""Re-ID embeddings of images, through mmengine's ``BaseInferencer`` workflow.

:class:`ReIDInferencer` follows mmengine's inferencer (``preprocess`` → ``forward`` →
``visualize`` → ``postprocess``, keyword arguments dispatched by name) and mmpretrain's
``FeatureExtractor`` (``forward`` is the data preprocessor and ``extract_feat``). It differs
where re-ID needs it:

* ``cfg_options`` are merged into the config once, before anything is built, with the
  tools' :func:`rga_mm.engine.launch.merge_cfg_options`: the model, the pipeline and
  ``self.cfg`` (read by tools/search.py for its distance) follow the same overrides
  (mmengine's ``BaseInferencer`` builds the pipeline from the config as given);
* the model is built and loaded by :func:`rga_mm.apis.init_model`, so a checkpoint that does
  not fit the config is refused with a sentence naming the file (mmengine's
  ``_load_checkpoint_to_model`` loads it non-strictly and goes on with random weights);
* the result is one (N, D) tensor, not a list of per-image features, and the progress bar
  is mmengine's ``ProgressBar`` over images (mmengine's ``__call__`` uses rich's ``track``
  over batches, whose number it does not know);
* an unreadable image stops the call naming the file, or is skipped (``on_unreadable``;
  refused with the default tensor result, whose rows would no longer line up with the
  inputs, so skipping returns data samples); a path that does not exist is refused
  before any image is embedded; errors name an input by its position in the list given,
  and each data sample carries that position (``input_idx``) beside its position among
  the images (``sample_idx``);
* :meth:`ReIDInferencer.embed_batches` yields the embeddings a batch at a time, so that a
  caller can keep what is done when a long run is stopped (tools/search.py's cache);
* ``flip=True`` embeds every image and its mirror image and averages the two;
* arrays are BGR, as ``mmcv.imread`` returns them, unless ``channel_order='rgb'`` says they
  are RGB (PIL → numpy, as torchreid and fast-reid read images); files are unaffected.
"""
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmengine.utils import ProgressBar
from torch import nn

from rga_mm.checks import is_file_given_as_folder, is_flag, is_positive_int
from rga_mm.datasets.folder_listing import image_paths
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.engine.launch import PYTHON_OPTION, merge_cfg_options
from rga_mm.errors import working_folder_note
from rga_mm.visualization.image_inputs import file_pipeline, required_test_pipeline
from .image_arrays import check_channel_order, checked_array, in_bgr_order
from .inference import as_config, init_model
from .model_index import list_models, model_config

ON_UNREADABLE = ('stop', 'skip')
InputType = str | Path | np.ndarray
InputsType = InputType | Sequence[InputType]


def _resolve_config(config: str | Path | Config) -> Config:
    """A config file, a loaded Config, or the name of a model of the model index."""
    if isinstance(config, (str, Path)):
        text = str(config)
        if not (text.endswith('.py') or os.sep in text or Path(text).exists()):
            config = model_config(text)
    return as_config(config)


def merged_config(config: str | Path | Config, cfg_options: dict | None,
                  option: str = PYTHON_OPTION) -> Config:
    """The resolved config (:func:`_resolve_config`) with ``cfg_options`` merged as the
    tools merge ``--cfg-options``: a key that would change nothing (a typo, a helper
    variable of the config file) is refused with one sentence naming it as ``option``
    formats it (``cfg_options['key']``; a tool passes ``'--cfg-options {}'``)."""
    cfg = _resolve_config(config)
    source = cfg.filename or (str(config) if isinstance(config, (str, Path)) else '')
    merge_cfg_options(cfg, cfg_options, source, option)
    return cfg


# a URL's scheme (http://, https://, s3://, ...), which a local path does not start with
URL = re.compile(r'[a-zA-Z][a-zA-Z0-9+.-]+://')


def check_path(index: int, path: str, refuse_missing: bool = True) -> None:
    """Refuse an empty input path, a URL, one that names something other than a file or a
    folder (a FIFO), and with ``refuse_missing`` one that does not exist (or names a file
    with a trailing separator, ``base.png/``), naming the input's position in the list
    given and the path (relative paths: from the working folder)."""
    if not path:
        raise FileNotFoundError(f"input {index} is an empty path (''); give an image file, "
                                f"a folder of images or an (H, W, 3) BGR array")
    if URL.match(path):
        raise FileNotFoundError(f'input {index} is {path}, a URL: ReIDInferencer reads local '
                                f'image files, folders and arrays, so download the image '
                                f'first and give its path')
    if refuse_missing and is_file_given_as_folder(path):
        raise FileNotFoundError(f'input {index} is {path}, a file, not a folder: drop the '
                                f'trailing {path[-1]!r}')
    if refuse_missing and not os.path.exists(path):
        raise FileNotFoundError(f'input {index} is {path}, which does not exist'
                                f'{working_folder_note(path)}; give an existing image file or '
                                f'folder')
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
        raise ValueError(f'input {index} is {path}, which exists but is neither a regular '
                         f'file nor a folder (a device, a FIFO or a socket, which reading '
                         f'could wait on forever); give an image file or a folder of images')


def _check_rows_line_up(return_datasamples: bool, on_unreadable: str) -> None:
    """Refuse ``on_unreadable='skip'`` with a tensor result, whose rows would no longer
    line up with the inputs once an image is left out, in one sentence naming the fix."""
    if on_unreadable == 'skip' and not return_datasamples:
        raise ValueError("on_unreadable='skip' leaves the rows of unreadable images out of "
                         "the (N, D) tensor, so its rows would no longer line up with the "
                         "inputs: pass return_datasamples=True (each data sample carries "
                         "its input_idx and, for files, its img_path) or stop on unreadable "
                         "images (on_unreadable='stop', the default)")


class ReIDInferencer(BaseInferencer):
    """(N, D) re-ID embeddings of images, as the model's ``extract_feat`` gives them.

    Images go through the config's test pipeline (its loading step replaced by one that
    takes files and arrays), are collated in batches, normalised by the model's data
    preprocessor and embedded by ``extract_feat`` (= ``forward(mode='tensor')``).

    Args:
        config: a config file, an mmengine ``Config``, or the name of a model of the model
            index (``rga_mm.apis.list_models()``).
        checkpoint: weights to load; they must fit the config's model unless ``strict`` is
            False (:func:`rga_mm.apis.init_model`).
        device: e.g. ``'cpu'`` or ``'cuda:0'``; default: CUDA when available.
        cfg_options: overrides merged into the config, as ``--cfg-options`` does (and
            with the same checks), before the model and the pipeline are built from it:
            ``self.cfg`` is the merged config.
        strict: refuse a checkpoint whose tensor names or shapes differ from the model's.
        show_progress: draw mmengine's progress bar, on stderr, over the images of a call
            that has more than one (a call per image, as in a loop over crops, draws none).

    Example:
        >>> inferencer = ReIDInferencer('configs/demo/rga-sc_r18-ls1_1xb32-80e_'
        ...                             'synthetic-market-64x32.py', 'epoch_80.pth')
        >>> embeddings = inferencer('data/query/', batch_size=64)  # (N, 512)
        >>> samples = inferencer(images, return_datasamples=True, on_unreadable='skip')
        >>> one = inferencer(np.asarray(pil_image), channel_order='rgb')  # (1, 512)
    """

    preprocess_kwargs: set = {'on_unreadable', 'channel_order'}
    forward_kwargs: set = {'flip'}
    visualize_kwargs: set = {'show'}
    postprocess_kwargs: set = set()

    def __init__(self,
                 config: str | Path | Config,
                 checkpoint: str | None = None,
                 device: str | None = None,
                 cfg_options: dict | None = None,
                 strict: bool = True,
                 show_progress: bool = True) -> None:
        self._strict = strict
        super().__init__(model=merged_config(config, cfg_options), weights=checkpoint,
                         device=device, scope='rga_mm', show_progress=show_progress)

    def __call__(self,
                 inputs: InputsType,
                 return_datasamples: bool = False,
                 batch_size: int = 16,
                 **kwargs) -> torch.Tensor | list[BaseDataElement]:
        """Embed images.

        Args:
            inputs: an image file, a folder (the image files directly in it, in name
                order; subfolders are not read, with a warning where they hold images),
                an (H, W, 3) BGR array (RGB with ``channel_order='rgb'``) with values
                0-255 as ``mmcv.imread`` returns it
                (uint8, uint16, int16, float16, float32 or float64, finite; an integer
                array with values outside 0-255 is refused, and a float one more than 1
                outside), a grayscale (H, W) or (H, W, 1) or BGRA (H, W, 4) array (taken
                as ``mmcv.imread`` reads such a file: gray in all three channels, alpha
                dropped), or a list of these.
            return_datasamples: return mmpretrain ``DataSample`` s (``pred_feature``, and
                the metainfo ``sample_idx``: the image's position among the images the
                inputs stand for, a folder's images each counted; ``input_idx``: the
                position in ``inputs`` of the file, folder or array it came from; and
                ``img_path`` for files) instead of a tensor.
            batch_size: images per forward pass, an int of at least 1.
            on_unreadable: ``'stop'`` (default) raises
                :class:`rga_mm.datasets.transforms.UnreadableImageError` naming the first
                file that cannot be read (a path that does not exist is refused with a
                FileNotFoundError before any image is embedded); ``'skip'`` leaves such
                files out with a warning naming each, and needs
                ``return_datasamples=True`` (each sample's ``input_idx`` says which input
                it came from), since a tensor's rows would no longer line up with the
                inputs.
            channel_order: the order of the colour channels of the array inputs:
                ``'bgr'`` (default), as ``mmcv.imread`` and ``cv2.imread`` return them, or
                ``'rgb'``, as ``np.asarray(PIL.Image.open(path).convert('RGB'))`` gives
                them (torchreid and fast-reid read images so); an RGBA array is taken as
                RGB plus alpha. Files are read by the pipeline whatever
                ``channel_order``, and grayscale arrays have no order. Any other value is
                refused with a ValueError before any image is read.
            flip: embed each image and its horizontal mirror image and return the mean
                of the two embeddings (the mirror images go through the data preprocessor
                themselves). Default: as the model is evaluated, i.e. its
                ``test_cfg['flip']`` where it has one, else off. A value that is neither a
                bool nor None (e.g. the string ``'false'``) is refused with a ValueError
                before any image is read.

        Returns:
            (N, D) embeddings on the CPU in the order of the inputs (N: the images the
            inputs stand for, a folder's images each counted), or the data samples of the
            images read.

        Raises:
            FileNotFoundError: an input path is empty, or (with ``on_unreadable='stop'``)
                does not exist; raised before any image is embedded.
            ValueError: an array the pipeline cannot take as an image; like every error
                about one input, it names the input's position in ``inputs``. Also
                ``on_unreadable='skip'`` without ``return_datasamples=True``, refused
                before any image is read.
        """
        _check_rows_line_up(return_datasamples, kwargs.get('on_unreadable', 'stop'))
        preds, num_inputs, all_skipped = [], 0, []
        for samples, skipped in self.embed_batches(inputs, batch_size, **kwargs):
            num_inputs += len(samples) + len(skipped)
            all_skipped.extend(skipped)
            preds.extend(samples)
        if not preds:
            raise ValueError(f'none of the {num_inputs} images could be read (the first: '
                             f'{all_skipped[0].path}: {all_skipped[0].reason})')
        return self.postprocess(preds, None, return_datasamples)

    def embed_batches(self, inputs: InputsType, batch_size: int = 16, **kwargs: Any
                      ) -> Iterator[tuple[list[BaseDataElement], list[UnreadableImageError]]]:
        """Embed images a batch at a time, for a caller that keeps what is done when a long
        run is stopped (tools/search.py writes its gallery cache).

        Takes the arguments of :meth:`__call__` but ``return_datasamples``, and yields, per
        forward pass, its data samples (``pred_feature`` on the CPU, ``sample_idx``,
        ``input_idx``, ``img_path`` for files) and the :class:`UnreadableImageError` s of
        the files skipped since the previous one (``on_unreadable='skip'``; each is also
        logged as a warning at the end). With ``on_unreadable='stop'`` the images before an
        unreadable one are yielded first, then its error is raised.
        """
        if not is_positive_int(batch_size):
            raise ValueError(f'batch_size must be an int of at least 1, got {batch_size!r}')
        preprocess_kwargs, forward_kwargs, visualize_kwargs, _ = self._dispatch_kwargs(**kwargs)
        self.visualize([], [], **visualize_kwargs)  # refuses show=True before any image is read
        # resolved (and a bad value refused) once, before any image is read
        forward_kwargs['flip'] = self.uses_flip(forward_kwargs.get('flip'))
        ori_inputs = self._inputs_to_list(
            inputs, refuse_missing=preprocess_kwargs.get('on_unreadable', 'stop') == 'stop')
        progress = self._progress_bar(len(ori_inputs))
        skipped = []
        try:
            for data, batch_skipped in self.preprocess(ori_inputs, batch_size,
                                                       **preprocess_kwargs):
                samples = [] if data is None else self._embedded_samples(data, forward_kwargs)
                skipped.extend(batch_skipped)
                if progress is not None:
                    progress.update(len(samples) + len(batch_skipped))
                yield samples, batch_skipped
        finally:
            if progress is not None:
                progress.file.write('\n')
        for error in skipped:
            print_log(f'skipped {error.path}: {error.reason}', logger='current',
                      level=logging.WARNING)

    def _progress_bar(self, num_images: int) -> ProgressBar | None:
        """mmengine's bar over ``num_images`` images, on ``sys.stderr`` (as tqdm draws, so
        that a program's output on stdout holds no bar); None with ``show_progress=False``
        or a single image (a call per image, as in a loop over crops, would draw a bar
        each)."""
        if not self.show_progress or num_images < 2:
            return None
        return ProgressBar(num_images, file=sys.stderr)

    def _embedded_samples(self, data: dict, forward_kwargs: dict) -> list[BaseDataElement]:
        """The data samples of a collated batch, each with its CPU ``pred_feature``."""
        embeddings = self.forward(data, **forward_kwargs).cpu()
        samples = data['data_samples']
        for sample, embedding in zip(samples, embeddings):
            sample.set_field(embedding, 'pred_feature')
        return samples

    def _inputs_to_list(self, inputs: InputsType,
                        refuse_missing: bool = True) -> list[tuple[int, InputType]]:
        """(position in ``inputs``, file or array) of each image in order; a folder becomes
        its image files in name order, each with the folder's position.

        An empty path is refused, and with ``refuse_missing`` a path that does not exist
        (else the loading step skips it), before any image is read: one sentence naming
        the input's position in ``inputs`` and the path.
        """
        if isinstance(inputs, np.ndarray) and inputs.ndim == 4:
            inputs = list(inputs)
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        items = []
        for input_idx, item in enumerate(inputs):
            if isinstance(item, (str, Path)):
                check_path(input_idx, str(item), refuse_missing)
                items.extend((input_idx, path) for path in image_paths(item, warnings.warn))
                continue
            items.append((input_idx, item))
        if not items:
            raise ValueError('no images to embed: the inputs are an empty list')
        return items

    def preprocess(self, inputs: list[tuple[int, InputType]], batch_size: int = 16,
                   on_unreadable: str = 'stop',
                   channel_order: str = 'bgr') -> Iterator[tuple[dict | None, list]]:
        """Yield (collated batch or None, the UnreadableImageErrors of its skipped files);
        ``inputs``: (position in the list given, file or array) of each image; arrays have
        their colour channels in ``channel_order`` (``'bgr'`` or ``'rgb'``)."""
        if on_unreadable not in ON_UNREADABLE:
            raise ValueError(f'on_unreadable must be one of {ON_UNREADABLE}, '
                             f'got {on_unreadable!r}')
        check_channel_order(channel_order)
        batch, skipped = [], []
        for sample_idx, (input_idx, item) in enumerate(inputs):
            if isinstance(item, np.ndarray):
                item = in_bgr_order(item, channel_order)
            try:
                batch.append(self._packed(sample_idx, input_idx, item))
            except UnreadableImageError as error:
                if on_unreadable == 'skip':
                    skipped.append(error)
                    continue
                if batch:  # the images before it are embedded before the error stops
                    yield self.collate_fn(batch), skipped
                raise
            if len(batch) == batch_size:
                yield self.collate_fn(batch), skipped
                batch, skipped = [], []
        if batch or skipped:
            yield (self.collate_fn(batch) if batch else None), skipped

    def _packed(self, sample_idx: int, input_idx: int, item: InputType) -> dict:
        """The pipeline's packed item of one image, its data sample's metainfo holding
        ``sample_idx`` (its position among the images) and ``input_idx`` (the position in
        the list given of the input it came from), whatever the packing step's
        ``meta_keys``."""
        packed = self.pipeline((input_idx, item))
        packed['data_samples'].set_metainfo(dict(sample_idx=sample_idx, input_idx=input_idx))
        return packed

    @torch.no_grad()
    def forward(self, inputs: dict, flip: bool | None = None) -> torch.Tensor:
        """A collated batch → (B, D) embeddings (mean with the mirror images' if ``flip``;
        ``None``: the model's ``test_cfg['flip']``, False for a model without one)."""
        embeddings = self._embed(inputs)
        if self.uses_flip(flip):
            images = inputs['inputs']
            mirrored = (images.flip(-1) if isinstance(images, torch.Tensor)
                        else [image.flip(-1) for image in images])
            embeddings = (embeddings + self._embed(dict(inputs, inputs=mirrored))) / 2
        return embeddings

    def uses_flip(self, flip: bool | None = None) -> bool:
        """Whether ``flip`` (``None``: the model's default) means embedding mirror images.

        Raises:
            ValueError: ``flip`` is neither a bool (Python's or numpy's) nor None (a string
                such as ``'false'`` would otherwise count as true).
        """
        if flip is not None and not is_flag(flip):
            raise ValueError(f'flip must be True, False or None (the model\'s '
                             f'test_cfg.flip), got {flip!r}')
        if flip is None:
            return bool((getattr(self.model, 'test_cfg', None) or {}).get('flip', False))
        return bool(flip)

    def _embed(self, data: dict) -> torch.Tensor:
        inputs = self.model.data_preprocessor(data, False)['inputs']
        embeddings = self.model.extract_feat(inputs)
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
            kind = (f'a tensor of shape {tuple(embeddings.shape)}'
                    if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__)
            raise ValueError(f'ReIDInferencer needs a model whose extract_feat gives (B, D) '
                             f'embeddings, but {type(self.model).__name__} gives {kind}')
        return embeddings

    def visualize(self, inputs: list, preds: list[BaseDataElement], show: bool = False,
                  **kwargs: Any) -> None:
        """Embeddings have no picture of their own (tools/search.py draws ranked lists):
        ``show=True``, as mmpretrain's inferencers take it, is refused in one sentence."""
        if show:
            raise NotImplementedError('ReIDInferencer draws nothing (show=True): an embedding '
                                      'has no picture of its own; tools/search.py --out DIR '
                                      'draws the ranked lists of a gallery search')
        return None

    def postprocess(self, preds: list, visualization: list[np.ndarray] | None = None,
                    return_datasample: bool = False,
                    **kwargs: Any) -> torch.Tensor | list[BaseDataElement]:
        """Data samples, each with its CPU ``pred_feature`` → the samples, or their (N, D)
        embeddings stacked."""
        if return_datasample:
            return preds
        return torch.stack([sample.pred_feature for sample in preds])

    def _init_model(self, cfg: Config, weights: str | None,
                    device: str = 'cpu') -> nn.Module:
        """:func:`rga_mm.apis.init_model` on ``cfg``, into which the ``cfg_options`` are
        already merged: strict checkpoint checks, one-sentence errors."""
        if weights is None:
            warnings.warn('no checkpoint given: the embeddings come from the initial weights')
        return init_model(cfg, weights, str(device), strict=self._strict)

    def _init_pipeline(self, cfg: Config) -> Callable:
        """(input's position in the list given, file or array) → packed item: loading
        (with the options of the config's ``LoadImageFromFile``), then the config's test
        pipeline without its loading steps
        (``rga_mm.visualization.image_inputs.file_pipeline``). A pipeline that loads no
        files (decoded-array datasets) gets RGB images, as its dataset holds them."""
        pipeline = required_test_pipeline(cfg)
        loading = next((step for step in pipeline
                        if str(step.get('type')).rpartition('.')[2] == 'LoadImageFromFile'),
                       {})
        loader_args = {key: value for key, value in loading.items()
                       if key not in ('type', 'ignore_empty')}
        rest, channel_order = file_pipeline(pipeline)
        load_step = _LoadImage(LoadImageFromFile(**loader_args), to_rgb=channel_order == 'rgb')
        return Compose([load_step, *rest.transforms])

    def _init_visualizer(self, cfg: Config) -> None:
        """None: the config's visualizer (TensorBoard, ...) is for training runs."""
        return None

    @staticmethod
    def list_models(pattern: str | None = None) -> list[str]:
        """Names of the model index (``rga_mm.apis.list_models``)."""
        return list_models(pattern)


class _LoadImage:
    """(input's position in the list given, file path or BGR array) → the loading step's
    results; the image is turned to RGB if ``to_rgb``. The position names the input in
    errors."""

    def __init__(self, loader: LoadImageFromFile, to_rgb: bool = False) -> None:
        self.loader = loader
        self.to_rgb = to_rgb

    def __call__(self, indexed_item: tuple[int, InputType]) -> dict:
        index, item = indexed_item
        if isinstance(item, str):
            results = self.loader.transform(dict(img_path=item))
        elif isinstance(item, np.ndarray):
            item = checked_array(index, item)
            image = item.astype(np.float32) if self.loader.to_float32 else item
            results = dict(img=image, img_shape=item.shape[:2], ori_shape=item.shape[:2])
        else:
            raise TypeError(f'input {index} is a {type(item).__name__}; give image files, '
                            f'folders or (H, W, 3) BGR arrays')
        if self.to_rgb:
            results['img'] = np.ascontiguousarray(results['img'][..., ::-1])
        return results
