"""mmseg's Cityscapes dataset with its input errors named: an empty split, missing label maps,
an unreadable image or label map, a label map of another size than its image, labelIds where
labelTrainIds are expected.

``rga_mm.CityscapesDataset`` is mmseg's ``CityscapesDataset`` (same layout, suffixes, classes
and items) plus three checks, each where it is cheapest:

* at build, the split's image folder must hold ``*_leftImg8bit.png`` files and its label
  folder their ``*_gtFine_labelTrainIds.png`` maps (at least one: a folder of labelIds only
  is the usual mistake); the listing mmseg makes anyway and, normally, one file test;
* at load, :class:`CheckCityscapesLabelMap`, which the dataset inserts right after its
  pipeline's ``LoadAnnotations``, compares the decoded label map with its image's size and
  with the trainIds range. It reads the array the pipeline has just decoded, so the check
  costs no file access; in the dataset (before the pipeline) it would decode every label map
  a second time, and after the pipeline the crop and resize steps have already hidden the size
  of the file. ``tools/misc/check_dataset.py`` runs the same two checks
  (:func:`label_map_problem`) on every file before a run;
* at load, an empty, truncated or undecodable image or label map: the dataset swaps its
  pipeline's ``LoadImageFromFile`` and ``LoadAnnotations`` for subclasses whose errors name
  the file (:mod:`rga_mm.datasets.seg_loading`), which read a good file as mmcv and mmseg do.

mmseg is the ``seg`` extra, so this module is imported by the Cityscapes configs'
``custom_imports``, not by :mod:`rga_mm.datasets`.
"""
import os.path as osp
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmengine import fileio
from mmseg.datasets import CityscapesDataset as MMSegCityscapesDataset

from rga_mm.checks import is_int, positive_int
from rga_mm.errors import ConfigError, DatasetError, type_name
from rga_mm.registry import DATASETS, TRANSFORMS
from .seg_loading import name_unreadable_files

CONVERTER = "mmseg's tools/dataset_converters/cityscapes.py"
LISTED_VALUES = 8  # offending label values named in an error
MAX_LABEL_ID = 33  # Cityscapes' labelIds run 0..33 (license plate, -1, is not in the maps)
IMG_SUFFIX = '_leftImg8bit.png'  # mmseg's Cityscapes suffixes
SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'


def _size(shape) -> str:
    """'H×W' of an (H, W, ...) shape."""
    return f'{shape[0]}×{shape[1]}'


def out_of_range_values(label_map: np.ndarray, num_classes: int,
                        ignore_index: int) -> list[int]:
    """The sorted values of a (H, W) label map that are neither a class (0..num_classes − 1)
    nor ``ignore_index``; empty when the map is a valid trainIds map."""
    outside = label_map[(label_map >= num_classes) & (label_map != ignore_index)]
    return np.unique(outside).tolist() if outside.size else []


def size_problem(label_shape: tuple, image_shape: tuple, image_path: str,
                 img_suffix: str = IMG_SUFFIX,
                 seg_map_suffix: str = SEG_MAP_SUFFIX) -> str | None:
    """What is wrong with a label map of shape (H, W, ...) whose image ``image_path`` has
    shape (H', W', ...), as the end of a sentence that begins with the label map's name; None
    when both have the same height and width. The suffixes name the files in the fix."""
    if tuple(label_shape[:2]) == tuple(image_shape[:2]):
        return None
    return (f'is {_size(label_shape)} but its image {image_path} is {_size(image_shape)}: '
            f"each *{seg_map_suffix} must have its *{img_suffix}'s size, so replace the label "
            f'map (or the image) with the one of the same frame')


def values_problem(label_map: np.ndarray, num_classes: int, ignore_index: int,
                   seg_map_suffix: str = SEG_MAP_SUFFIX) -> str | None:
    """What is wrong with a (H, W) label map holding values that are neither a class
    (0..num_classes − 1) nor ``ignore_index``, as the end of a sentence that begins with the
    label map's name; None when it holds none. The fix names Cityscapes' converter when the
    maps are meant to be labelTrainIds, else the classes of the dataset."""
    values = out_of_range_values(label_map, num_classes, ignore_index)
    if not values:
        return None
    listed = ', '.join(map(str, values[:LISTED_VALUES])) + (
        ', ...' if len(values) > LISTED_VALUES else '')
    if seg_map_suffix == SEG_MAP_SUFFIX and max(values) <= MAX_LABEL_ID:
        return (f'holds values {listed}, outside the trainIds 0..{num_classes - 1} and '
                f'{ignore_index}: it looks like a *_gtFine_labelIds.png map, so run '
                f'{CONVERTER} on the Cityscapes root to write the *{SEG_MAP_SUFFIX} maps and '
                f'point seg_map_suffix at them')
    if seg_map_suffix == SEG_MAP_SUFFIX:
        return (f'holds values {listed}, outside the trainIds 0..{num_classes - 1} and '
                f'{ignore_index}, and outside the labelIds 0..{MAX_LABEL_ID} too: it is no '
                f'Cityscapes label map (damaged, or of another dataset), so write it again '
                f'with {CONVERTER} from its *_gtFine_polygons.json')
    return (f'holds values {listed}, outside the classes 0..{num_classes - 1} and the '
            f'ignore_index {ignore_index}: give each pixel its class index or {ignore_index}, '
            f"or set the dataset's metainfo classes to those of the *{seg_map_suffix} maps")


def channels_problem(label_map: np.ndarray) -> str | None:
    """What is wrong with a decoded label map that is no (H, W) map of one value per pixel
    (an RGB or RGBA file, such as Cityscapes' *_gtFine_color.png pictures), as the end of a
    sentence that begins with its name; None for a single-channel map."""
    if label_map.ndim == 2:
        return None
    return (f'has {label_map.shape[2]} channels ({_size(label_map.shape)}): a label map holds '
            f'one class index per pixel, so save it as a single-channel (8-bit grayscale or '
            f'palette) PNG of the class indices, not as a colour image')


def label_map_problem(label_map: np.ndarray, image_shape: tuple | None, image_path: str,
                      num_classes: int | None, ignore_index: int | None,
                      img_suffix: str = IMG_SUFFIX,
                      seg_map_suffix: str = SEG_MAP_SUFFIX) -> str | None:
    """What makes a (H, W) label map unfit, as the end of a sentence that begins with its
    name: :func:`channels_problem`, :func:`size_problem` against its image's (H', W', ...)
    ``image_shape`` (not compared when None: the image is unreadable), then
    :func:`values_problem` (not checked when ``num_classes`` is None: the classes are
    unknown); None when it fits."""
    return (channels_problem(label_map)
            or (image_shape is not None and size_problem(label_map.shape, image_shape,
                                                         image_path, img_suffix,
                                                         seg_map_suffix))
            or (num_classes is not None and values_problem(label_map, num_classes,
                                                           ignore_index, seg_map_suffix))
            or None)


@TRANSFORMS.register_module()
class CheckCityscapesLabelMap(BaseTransform):
    """Stop on a label map that does not fit its image or is not a trainIds map.

    Goes right after ``LoadAnnotations`` (:class:`CityscapesDataset` puts it there); reads
    ``gt_seg_map`` (H, W), ``ori_shape`` (the image's size as read, before any resize),
    ``img_path`` and ``seg_map_path``, and changes nothing. The check is
    :func:`label_map_problem`, which ``tools/misc/check_dataset.py`` runs on the files.

    ``num_classes`` and ``ignore_index`` are checked when the step is built: a string or a
    count of 0 would otherwise blame every label map, or fail in numpy, at the first one.

    Args:
        num_classes: the classes of the dataset (19 for Cityscapes): trainIds 0..num_classes − 1.
        ignore_index: the label of ignored pixels (255).
        img_suffix, seg_map_suffix: the dataset's file name endings, named in the fixes.
    """

    def __init__(self, num_classes: int = 19, ignore_index: int = 255,
                 img_suffix: str = IMG_SUFFIX, seg_map_suffix: str = SEG_MAP_SUFFIX) -> None:
        self.num_classes = positive_int(
            num_classes, 'CheckCityscapesLabelMap num_classes',
            "the dataset's classes, whose trainIds run 0..num_classes − 1; 19 for Cityscapes")
        if not is_int(ignore_index):
            raise ConfigError(f"CheckCityscapesLabelMap: ignore_index is the label of ignored "
                              f"pixels (the dataset's ignore_index), an int such as 255 for "
                              f"Cityscapes, got {ignore_index!r} ({type_name(ignore_index)}); "
                              f"write it as a whole number, without quotes")
        self.ignore_index = int(ignore_index)
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix

    def transform(self, results: dict) -> dict:
        """DatasetError naming the label map if it has another size than its image or
        values outside the trainIds; else ``results`` unchanged (also without a label map:
        inferencers drop ``LoadAnnotations`` from the test pipeline, not this step)."""
        label_map = results.get('gt_seg_map')
        if label_map is None:
            return results
        problem = label_map_problem(label_map, results['ori_shape'], results['img_path'],
                                    self.num_classes, self.ignore_index, self.img_suffix,
                                    self.seg_map_suffix)
        if problem:
            raise DatasetError(f"label map {results['seg_map_path']} {problem}")
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index}, img_suffix={self.img_suffix!r}, '
                f'seg_map_suffix={self.seg_map_suffix!r})')


@DATASETS.register_module()
class CityscapesDataset(MMSegCityscapesDataset):
    """mmseg's ``CityscapesDataset`` that refuses an empty split or missing label maps when
    built, names an unreadable image or label map when loaded (its pipeline's loading steps
    swapped by :func:`~rga_mm.datasets.seg_loading.name_unreadable_files`) and checks each
    label map when loaded (:class:`CheckCityscapesLabelMap`, inserted after the pipeline's
    ``LoadAnnotations`` unless the pipeline already has it). Takes the arguments of mmseg's
    class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_unreadable_files(self.pipeline.transforms)
        self.insert_label_check()

    def load_data_list(self) -> list[dict]:
        """mmseg's items, after checking that the split's folder exists, that there is one
        item and, where the pipeline loads label maps, that they exist (a pipeline without
        ``LoadAnnotations`` predicts only, as mmseg's format-only test of a split without
        gtFine does)."""
        try:
            data_list = super().load_data_list()
        except FileNotFoundError as error:  # mmseg lists the split's image folder bare
            raise FileNotFoundError(
                f'{error.filename} does not exist: point data_root (and data_prefix.img_path) '
                f'at a Cityscapes root holding leftImg8bit/<split> and gtFine/<split>') from None
        self.check_not_empty(data_list)
        if self.loads_label_maps():
            self.check_label_maps_exist(data_list)
        return data_list

    def loads_label_maps(self) -> bool:
        """Whether the pipeline has a ``LoadAnnotations`` step."""
        return any(isinstance(step, MMCVLoadAnnotations) for step in self.pipeline.transforms)

    def check_not_empty(self, data_list: list[dict]) -> None:
        """DatasetError if the split's image folder holds no image."""
        if not data_list:
            folder = self.data_prefix.get('img_path') or self.ann_file
            raise DatasetError(
                f'{folder} holds no images named *{self.img_suffix} (in it or its city '
                f'folders): point data_root and data_prefix.img_path at a Cityscapes '
                f'leftImg8bit/<split> folder')

    def check_label_maps_exist(self, data_list: list[dict]) -> None:
        """DatasetError if no image of the split has its label map (a wrong
        ``seg_map_path`` or suffix, or trainIds never written); stops at the first label map
        found, so a complete split costs one file test. A few missing label maps are left to
        ``tools/misc/check_dataset.py``, which lists them all, and to the loader, whose
        FileNotFoundError names the file."""
        paths = [info['seg_map_path'] for info in data_list if info.get('seg_map_path')]
        if not paths or any(fileio.exists(path, backend_args=self.backend_args)
                            for path in paths):
            return
        raise DatasetError(
            f"{self.data_prefix.get('seg_map_path')} holds none of the label maps of the "
            f'{len(paths)} images, e.g. {osp.basename(paths[0])}: each *{self.img_suffix} '
            f'needs a *{self.seg_map_suffix} of the same frame, which {CONVERTER} writes '
            f'from the gtFine *_gtFine_polygons.json files')

    def insert_label_check(self) -> None:
        """Put :class:`CheckCityscapesLabelMap` after the pipeline's ``LoadAnnotations``."""
        steps = self.pipeline.transforms
        if any(isinstance(step, CheckCityscapesLabelMap) for step in steps):
            return
        for position, step in enumerate(steps):
            if isinstance(step, MMCVLoadAnnotations):
                check = CheckCityscapesLabelMap(len(self.metainfo['classes']),
                                                self.ignore_index, self.img_suffix,
                                                self.seg_map_suffix)
                steps.insert(position + 1, check)
                return
