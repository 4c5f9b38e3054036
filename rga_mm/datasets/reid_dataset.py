"""The base of rga_mm's person re-ID datasets: splits, relabelling, checks, statistics."""
import inspect
import logging
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from prettytable import PrettyTable

from rga_mm.checks import constructor_arguments, is_int
from rga_mm.errors import (
    ConfigError,
    DatasetError,
    closest_choice_hint,
    type_name,
    working_folder_note,
)
from .augmentation_seed import DrawSeededPipeline
from .folder_listing import is_file, is_folder, is_image_file, is_visible

JUNK_ID = -1


class ReIDDataset(DrawSeededPipeline, BaseDataset):
    """A person re-ID dataset on disk (paper §4.1), one split per instance.

    Every item is a dict with ``img_path``, ``gt_label`` (the identity) and ``camera_id``
    (0-based); evaluation items also hold ``is_query``. Junk images (identity -1) are
    dropped; distractors (Market-1501's identity 0) stay in the gallery. Identities of
    ``split='train'`` are relabelled to 0..K-1 in ascending order of the original ids;
    query and gallery keep the original ids, so that the two can be compared.
    A statistics table (identities / images / cameras per split) is logged on load.
    ``split='train'`` puts its number of identities K in the metainfo as ``num_identities``
    (tools/train.py compares it with the classifier's size), and ``split='test'`` the sorted
    camera ids of its query and gallery images as ``cameras`` and the number of queries with
    a gallery image of their identity from another camera as ``cross_camera_queries``
    (mmengine hands them to the evaluator when the validation or test loop is built, so that
    ``ReIDMetric`` can refuse data its camera rule leaves without a true match before any
    epoch).

    An item asked for by a :class:`~rga_mm.datasets.augmentation_seed.SampleIndex` (the
    training draws of ``IdentityBatchSampler``) runs its pipeline with the random state of
    (seed, epoch, draw) (:class:`~rga_mm.datasets.augmentation_seed.DrawSeededPipeline`), so
    its augmentations are the same for any number of data-loader workers and after a
    resume; a plain index runs it on the ambient random state.

    Subclasses set ``dataset_name`` and ``layout`` (one line describing the folder layout,
    used in error messages) and implement :meth:`load_split` and :meth:`holds_layout`.

    Args:
        data_root: the dataset's folder; its layout is in docs/reid.md ("Preparing re-ID
            datasets").
        split: ``'train'``, ``'query'``, ``'gallery'``, or ``'test'``: all query items,
            then all gallery items, for one evaluation dataloader (``ReIDMetric``).
        **kwargs: passed to mmengine's ``BaseDataset`` (``pipeline``, ``lazy_init``, ...);
            a name neither it nor the subclass takes is refused with the closest one, and so
            is an ``ann_file`` for a dataset that reads no annotation file
            (:func:`check_arguments`).
    """

    SPLITS = ('train', 'query', 'gallery', 'test')
    dataset_name = ''
    layout = ''
    # said after "set data_root to the dataset's folder" when data_root is None
    data_root_note = ''

    def __init__(self, data_root: str, split: str = 'train', **kwargs: Any) -> None:
        check_arguments(type(self), self.dataset_name, kwargs)
        check_choice(self.dataset_name, 'split', split, self.SPLITS)
        if data_root is None:
            raise ConfigError(f"{self.dataset_name}: data_root is None; set data_root to the "
                              f"dataset's folder{self.data_root_note}")
        check_path_setting(self.dataset_name, 'data_root', data_root)
        self.split = split
        self._junk: dict[str, int] = {}  # split → junk images left out (_load_nonempty)
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(data_root=data_root, **kwargs)

    def load_split(self, split: str) -> list[dict]:
        """Items of ``'train'``, ``'query'`` or ``'gallery'`` with their original ids.

        Returns:
            Dicts with ``img_path`` (str), ``gt_label`` (int, original id, -1 for junk) and
            ``camera_id`` (int, 0-based).
        """
        raise NotImplementedError

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        """Whether ``root`` looks like this dataset's folder (a cheap check)."""
        raise NotImplementedError

    def load_data_list(self) -> list[dict]:
        if not osp.isdir(self.data_root):
            tilde = ("; a '~' is not expanded here (bash expands it at the start of a word "
                     "only, not in key=~/x): give the whole path"
                     if self.data_root.startswith('~') or '/~' in self.data_root else '')
            raise FileNotFoundError(f'{self.dataset_name}: data_root {self.data_root} is '
                                    f'not a folder{working_folder_note(self.data_root)}; '
                                    f'expected {self.layout}{tilde}')
        if self.split == 'test':
            query, gallery = self._load_nonempty('query'), self._load_nonempty('gallery')
            self._log_statistics(dict(query=query, gallery=gallery))
            self._metainfo['cameras'] = sorted({item['camera_id'] for item in query + gallery})
            self._metainfo['cross_camera_queries'] = _cross_camera_queries(query, gallery)
            return ([dict(item, is_query=True) for item in query] +
                    [dict(item, is_query=False) for item in gallery])
        items = self._load_nonempty(self.split)
        if self.split == 'train':
            items = _relabel(items)
            self._metainfo['num_identities'] = len({item['gt_label'] for item in items})
        self._log_statistics({self.split: items})
        return items

    def _load_nonempty(self, split: str) -> list[dict]:
        loaded = self.load_split(split)
        for item in loaded:
            _check_integer_labels(self.dataset_name, item)
        items = [item for item in loaded if item['gt_label'] != JUNK_ID]
        self._junk[split] = len(loaded) - len(items)
        if loaded and not items:
            count = '1 image' if len(loaded) == 1 else f'{len(loaded)} images'
            raise DatasetError(f'{self.dataset_name}: the {split} split under '
                               f'{self.data_root} holds junk only ({count} of identity -1, '
                               f'left out); give it images of real identities')
        if not items:
            raise DatasetError(f'{self.dataset_name}: the {split} split under '
                               f'{self.data_root} has no images; expected {self.layout}')
        return items

    def _log_statistics(self, splits: dict[str, list[dict]]) -> None:
        """Log the identities, images and cameras of each split, and how many junk images
        (identity -1) each left out, so that the counts add up to the files."""
        table = PrettyTable(['split', 'identities', 'images', 'cameras'])
        for name, items in splits.items():
            table.add_row([name, len({item['gt_label'] for item in items}), len(items),
                           len({item['camera_id'] for item in items})])
        junk = [f'{name} {self._junk[name]}' for name in splits if self._junk.get(name)]
        note = (f'\njunk images (identity -1) left out: {", ".join(junk)}' if junk else '')
        print_log(f'{self.dataset_name} ({self.data_root}):\n{table}{note}', logger='current')

    def missing_path_error(self, path: str) -> FileNotFoundError:
        """The error for a missing folder or list file of this dataset's layout."""
        return FileNotFoundError(f'{self.dataset_name}: {path} not found; expected '
                                 f'{self.layout}{self.layout_hint()}')

    def bad_name_error(self, path: str, pattern: str, example: str) -> DatasetError:
        """The error for a file name (or list line) that does not parse."""
        return DatasetError(f'{self.dataset_name}: cannot parse {path}; expected the pattern '
                            f'{pattern} (e.g. {example}){self.layout_hint()}')

    def layout_hint(self) -> str:
        """A clause naming what ``data_root`` holds instead (another dataset's layout, this
        one's in a subfolder, or in the folder above it), or '' if nothing is known."""
        for other in _dataset_classes():
            if other is not type(self) and other.holds_layout(self.data_root):
                return (f'; {self.data_root} holds the {other.dataset_name} layout, use '
                        f'{other.__name__} for it')
        for child in _subfolders(self.data_root):
            if type(self).holds_layout(child):
                return f'; did you mean data_root={child}?'
        parent = osp.dirname(osp.abspath(self.data_root))
        if parent != osp.abspath(self.data_root) and type(self).holds_layout(parent):
            return f'; did you mean data_root={parent}?'
        return ''


def check_path_setting(dataset_name: str, setting: str, value: Any) -> None:
    """A ConfigError unless ``value``, the path setting ``setting``, is a str or a path-like
    object: a list or tuple is what ``--cfg-options`` makes of a path with commas or
    brackets, and mmengine would fail on it with a bare assertion."""
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f'{dataset_name}: {setting} must be a path, got the '
                          f'{type_name(value)} {value!r}; --cfg-options reads a value with '
                          f'commas as a list and one in brackets with commas as a tuple, so '
                          f'set such a path in a config file')


def check_choice(dataset_name: str, setting: str, value: Any, choices: Sequence[str]) -> None:
    """A ConfigError unless ``value`` is one of ``choices``, naming the setting, the
    accepted values and the closest of them (compared without case) when one is close."""
    if isinstance(value, str) and value in choices:
        return
    raise ConfigError(f'{dataset_name}: {setting} {value!r} is not one of '
                      f'{", ".join(map(repr, choices))}{closest_choice_hint(value, choices)}')


def check_arguments(cls: type, dataset_name: str, kwargs: dict) -> None:
    """A ConfigError for a keyword argument that no constructor of ``cls`` takes (a typo in
    the config's dataset dict, which mmengine's ``BaseDataset`` would refuse with a
    traceback), with the closest name, and for an ``ann_file`` given to a dataset that takes
    none of its own: ``BaseDataset`` would accept it and the dataset never read it."""
    reads_ann_file = 'ann_file' in inspect.signature(cls.__init__).parameters
    known = [name for name in constructor_arguments(cls)
             if name != 'ann_file' or reads_ann_file]
    for name in kwargs:
        if name not in known and name != 'ann_file':
            raise ConfigError(f'{dataset_name} takes no argument {name!r} (a key of its '
                              f'dataset dict){closest_choice_hint(name, known) or "."} It takes '
                              f'{", ".join(known)}')
    if kwargs.get('ann_file') and not reads_ann_file:
        raise ConfigError(f'{dataset_name} reads no annotation file ({cls.layout}), so '
                          f'ann_file={kwargs["ann_file"]!r} would be ignored: leave it out, or '
                          f'use CustomReIDAnnotations to read an annotation file')


def _check_integer_labels(dataset_name: str, item: dict) -> None:
    """An item's identity and camera must be integers: a float (even 3.0, which says the
    annotations are not what the loader expects) is an error naming it and its image, where
    it would otherwise be truncated further on (3.7 → 3, merging two identities)."""
    for key in ('gt_label', 'camera_id'):
        value = item[key]
        if not is_int(value):
            raise DatasetError(f'{dataset_name}: {key} of {item["img_path"]} is {value!r}; '
                               f'identities and cameras must be integers, and a float one is '
                               f'refused rather than truncated')


def _cross_camera_queries(query: list[dict], gallery: list[dict]) -> int:
    """How many queries have a gallery image of their identity from another camera: a true
    match under the protocol's camera rule."""
    cameras_of = {}
    for item in gallery:
        cameras_of.setdefault(item['gt_label'], set()).add(item['camera_id'])
    return sum(bool(cameras_of.get(item['gt_label'], set()) - {item['camera_id']})
               for item in query)


def _relabel(items: list[dict]) -> list[dict]:
    """Map the identities to 0..K-1 in ascending order of the original ids."""
    label_of = {identity: label for label, identity in
                enumerate(sorted({item['gt_label'] for item in items}))}
    return [dict(item, gt_label=label_of[item['gt_label']]) for item in items]


def _dataset_classes() -> Sequence[type]:
    """All concrete subclasses of ReIDDataset (those with a dataset_name)."""
    found, stack = [], list(ReIDDataset.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.dataset_name:
            found.append(cls)
    return found


def _subfolders(root: str) -> list[str]:
    try:
        return sorted(entry.path for entry in os.scandir(root)
                      if is_visible(entry.name) and is_folder(entry))
    except OSError:
        return []


def scan_images(folder: str, suffix: str) -> list[str] | None:
    """Sorted names of the ``suffix`` files in ``folder``; None if it is not a folder.

    Other files (such as the ``Thumbs.db`` found in Market-1501) and hidden ones (such as
    the ``._0002_c1s1_000451_03.jpg`` that macOS writes beside an image) are ignored.
    """
    if not osp.isdir(folder):
        return None
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.name.endswith(suffix) and is_visible(entry.name) and is_file(entry))


def warn_of_other_images(dataset_name: str, folder: str, suffix: str) -> None:
    """Log one warning when ``folder`` holds image files that :func:`scan_images` leaves
    out (another suffix, or ``suffix`` in another case, such as ``.JPG`` or ``.jpeg``),
    naming how many and the first; the public layouts hold none, so they are a surprise."""
    others = sorted(entry.name for entry in os.scandir(folder)
                    if is_image_file(entry) and not entry.name.endswith(suffix))
    if others:
        print_log(f'{dataset_name}: {folder} holds {len(others)} image file(s) not named '
                  f'*{suffix}, the first {others[0]}; they are not loaded (only *{suffix} '
                  f'files are): rename them to *{suffix} to load them', logger='current',
                  level=logging.WARNING)
