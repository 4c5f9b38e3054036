"""Segmentation loading steps whose every failure names the file: the image or the label map.

mmcv's ``LoadImageFromFile`` and mmseg's ``LoadAnnotations`` stop on an empty or truncated
PNG with the decoder's own error (OpenCV's ``!buf.empty()``, Pillow's ``cannot identify image
file <_io.BytesIO ...>`` or ``image file is truncated``), which names no file, possibly hours
into a run. :class:`~rga_mm.datasets.cityscapes.CityscapesDataset` therefore swaps the two
steps of its pipeline (:func:`name_unreadable_files`) for

* rga_mm's ``LoadImageFromFile`` (:mod:`rga_mm.datasets.transforms.loading`), whose reading
  turns every failure into an :class:`UnreadableImageError` naming the image;
* :class:`LoadAnnotations` here, mmseg's, which on a failure reads the label map again as
  ``tools/misc/check_dataset.py`` does and raises an :class:`UnreadableImageError` naming it.

Both are subclasses that keep the settings of the step they replace and add no state, so a
readable file gives the arrays mmcv's and mmseg's steps give. The tools print such an error
alone (``stop_on_input_errors`` in :mod:`rga_mm.engine.launch.run_config`). mmseg is the
``seg`` extra: this module is imported by :mod:`rga_mm.datasets.cityscapes` only.
"""
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations as MMSegLoadAnnotations

from rga_mm.registry import TRANSFORMS
from .transforms import LoadImageFromFile, UnreadableImageError

LABEL_HINT = ('replace it, or remove it with its image (python tools/misc/check_dataset.py '
              'CONFIG lists every unreadable image and label map of a config)')


@TRANSFORMS.register_module()
class LoadAnnotations(MMSegLoadAnnotations):
    """mmseg's ``LoadAnnotations`` whose failure to read a label map names the file
    (module docstring). Takes mmseg's arguments; writes ``gt_seg_map`` (H, W) uint8 and
    appends it to ``seg_fields``, as mmseg's does."""

    def _load_seg_map(self, results: dict) -> None:
        """mmseg's loading of ``results['seg_map_path']``; when it fails and the file is
        unreadable, an :class:`UnreadableImageError` naming it and why (any other failure,
        such as a ``reduce_zero_label`` mismatch, is mmseg's own)."""
        try:
            super()._load_seg_map(results)
        except Exception:  # OpenCV / Pillow / file backend errors, or None from the decoder
            unreadable = self.unreadable(results['seg_map_path'])
            if unreadable is None:
                raise
            raise unreadable from None

    def unreadable(self, path: str) -> UnreadableImageError | None:
        """Why the label map ``path`` cannot be read with this step's decoder and file
        backend, as an error naming it; None when it can."""
        reader = LoadImageFromFile(color_type='unchanged', imdecode_backend=self.imdecode_backend,
                                   backend_args=self.backend_args)
        try:
            reader.read(path)
        except UnreadableImageError as error:
            return UnreadableImageError(
                f'cannot read label map {path}: {error.reason}; {LABEL_HINT}', path,
                error.reason)
        return None


# the steps of mmcv and mmseg swapped, and the subclass each becomes
NAMED_STEPS = {MMCVLoadImageFromFile: LoadImageFromFile, MMSegLoadAnnotations: LoadAnnotations}


def name_unreadable_files(steps: list[BaseTransform]) -> None:
    """Replace, in place, each step of ``steps`` (a built pipeline's transforms) that is
    exactly mmcv's ``LoadImageFromFile`` or mmseg's ``LoadAnnotations`` with rga_mm's subclass
    holding the same settings; other steps, subclasses included, are kept."""
    for position, step in enumerate(steps):
        named_type = NAMED_STEPS.get(type(step))
        if named_type is not None:
            steps[position] = _as_subclass(step, named_type)


def _as_subclass(step: BaseTransform, subclass: type) -> BaseTransform:
    """A ``subclass`` object with the attributes of ``step``: what ``subclass`` would build
    from the arguments ``step`` was built with, since it adds no state of its own, its
    settings checked as its ``__init__`` checks them (``check_settings``, where it has one)."""
    named = subclass.__new__(subclass)
    vars(named).update(vars(step))
    if hasattr(named, 'check_settings'):
        named.check_settings()
    return named
