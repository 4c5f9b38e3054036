"""CIFAR-10/100 (paper §4.3) through mmpretrain's own loading code, md5 check optional.

mmpretrain's ``CIFAR10`` / ``CIFAR100`` refuse any ``cifar-10-batches-py`` /
``cifar-100-python`` folder whose files do not carry the md5 sums of the official archives.
That is right for the real data, but pickles generated in the same format for
tests (or re-pickled copies) can never match. The subclasses below change nothing but that
check: with ``verify_md5=False`` the files must still exist under the same names and are
parsed by mmpretrain's unchanged ``load_data_list``, after a check of what the md5 sums would
have vouched for (keys, N×3072 uint8 pixels, one label per image within the classes, as many
class names as classes); with the default ``verify_md5=True`` they behave exactly as
mmpretrain's classes. ``download`` defaults to False (offline); a download that cannot reach
the host is one sentence naming the URL and the layout to extract by hand.
"""
import os.path as osp
import pickle
import urllib.error
import urllib.parse
from typing import Any

import numpy as np
from mmpretrain.datasets import CIFAR10 as _MMPretrainCIFAR10
from mmpretrain.datasets import CIFAR100 as _MMPretrainCIFAR100
from mmpretrain.datasets.utils import check_md5

from rga_mm.errors import DatasetError
from rga_mm.registry import DATASETS
from .augmentation_seed import DrawSeededPipeline


def _without_md5(entries: list) -> list:
    """``[[filename, md5], ...]`` → ``[[filename, None], ...]`` (mmpretrain skips None)."""
    return [[filename, None] for filename, _ in entries]


class _OptionalMD5:
    """Mixin: ``verify_md5=False`` blanks the md5 sums on the instance before loading and
    checks the files' content instead (labels, pixels, class names)."""

    labels_key: str = 'labels'  # the key of the labels in the official batches
    wider_type: str | None = None  # the registered type to suggest for more classes

    def __init__(self, *args: Any, verify_md5: bool = True, download: bool = False,
                 **kwargs: Any) -> None:
        self.verify_md5 = verify_md5
        if not verify_md5:
            self.train_list = _without_md5(self.train_list)
            self.test_list = _without_md5(self.test_list)
            self.meta = {**self.meta, 'md5': None}
        super().__init__(*args, download=download, **kwargs)

    def load_data_list(self) -> list[dict]:
        """mmpretrain's, naming the folder and the files when data is missing, corrupt,
        malformed (``verify_md5=False``: :meth:`_check_files`) or of another version, or the
        URL when a download fails (mmpretrain's own messages suggest a download, which
        offline runs do not do, or end in a bare pickle, index or network error)."""
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        missing = [name for name, _ in self.train_list + self.test_list + [[
            self.meta['filename'], None]] if not osp.isfile(osp.join(folder, name))]
        if missing and not self.download:
            raise self._missing_files_error(folder, missing)
        if not missing and not self.verify_md5:  # no md5 sums vouch for the content
            self._check_files(folder)
        try:
            return super().load_data_list()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise self._download_error(folder, error) from None
        except RuntimeError:  # mmpretrain's md5 check failed (it hashes every file itself)
            if not self.download:
                self._check_md5_sums(folder)
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as error:
            raise self._unreadable_error(self._unreadable_file(folder), error) from None

    def _unreadable_error(self, path: str, error: BaseException,
                          kind: str = 'batch') -> DatasetError:
        """``path`` does not unpickle (or holds no dict) as a CIFAR ``kind``."""
        return DatasetError(
            f'{type(self).__name__}: {path} cannot be read as a CIFAR {kind} '
            f'({type(error).__name__}: {error}); it is truncated or no CIFAR file: extract '
            f'the official archive ({self.url}) again')

    def _download_error(self, folder: str, error: BaseException) -> DatasetError:
        """mmpretrain's download (``download=True``) cannot reach the archive's host: name
        the URL, the host and the layout to extract by hand instead."""
        host = urllib.parse.urlsplit(self.url).hostname
        files = ', '.join(name for name, _ in self.train_list + self.test_list)
        return DatasetError(
            f'{type(self).__name__}: download=True cannot fetch {self.url} '
            f'({getattr(error, "reason", error)}), {host} is out of reach from this machine; '
            f'download the archive elsewhere and extract it by hand in '
            f'{osp.normpath(self.data_prefix["root"])}, so that {folder} holds {files} and '
            f'{self.meta["filename"]} (docs/classification.md, "Data"), and leave download '
            f'False')

    def _check_files(self, folder: str) -> None:
        """Refuse hand-made files that mmpretrain would load wrongly (a shifted or
        out-of-range label, float pixels) or with a bare error: every batch of the split,
        then the meta file's class names."""
        entries = self.train_list if self.split == 'train' else self.test_list
        for name, _ in entries:
            self._check_batch(osp.join(folder, name))
        self._check_meta(osp.join(folder, self.meta['filename']))

    def _load_pickle(self, path: str, kind: str) -> dict:
        """The dict pickled in ``path`` (latin1, as mmpretrain reads it)."""
        try:
            with open(path, 'rb') as file:
                entry = pickle.load(file, encoding='latin1')
        except Exception as error:  # any failure to unpickle (a cut frame may even ask
            raise self._unreadable_error(path, error, kind) from None  # for any memory)
        if not isinstance(entry, dict):
            raise self._unreadable_error(
                path, TypeError(f'it holds a {type(entry).__name__}, not a dict'), kind)
        return entry

    def _missing_key_error(self, path: str, entry: dict, key: str,
                           expected: str) -> DatasetError:
        """``entry`` (unpickled from ``path``) lacks ``key``; ``expected``: its keys."""
        return DatasetError(
            f'{type(self).__name__}: {path} has no {key!r} key (it has '
            f'{", ".join(repr(name) for name in entry) or "none"}); write the file with '
            f'{expected}, as in the official archive')

    def _check_batch(self, path: str) -> None:
        """One batch file: its ``data`` key and labels key (mmpretrain's lookup:
        ``labels``, else ``fine_labels``), then its pixels and labels."""
        entry = self._load_pickle(path, 'batch')
        expected = f"its images under 'data' and its labels under {self.labels_key!r}"
        if 'data' not in entry:
            raise self._missing_key_error(path, entry, 'data', expected)
        key = next((name for name in ('labels', 'fine_labels') if name in entry), None)
        if key is None:
            raise self._missing_key_error(path, entry, self.labels_key, expected)
        data = np.asarray(entry['data'])
        self._check_pixels(path, data)
        self._check_labels(path, np.asarray(entry[key]), key, len(data))

    def _check_pixels(self, path: str, data: np.ndarray) -> None:
        """``data`` must be N×3072 uint8 (32×32 pixels as R, G and B planes)."""
        name = type(self).__name__
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DatasetError(
                f"{name}: {path} holds 'data' of shape {'×'.join(map(str, data.shape))}, but "
                f'a CIFAR batch holds one row of 3072 values per image (32×32 pixels as R, '
                f"G and B planes): write 'data' as an N×3072 array")
        if data.dtype != np.uint8:
            span = f' in {data.min()}..{data.max()}' if data.size else ''
            raise DatasetError(
                f"{name}: {path} holds {data.dtype} pixels{span} in 'data', but CIFAR holds "
                f"uint8 pixels in 0..255: write 'data' as a uint8 array of values 0..255")

    def _check_labels(self, path: str, labels: np.ndarray, key: str, num_images: int) -> None:
        """One integer label per image, each a class index of this dataset, in a flat list
        (mmpretrain reads each label as a number: a column of them, the N×1 of MATLAB's
        archive, would stop it with a bare TypeError)."""
        name, num_classes = type(self).__name__, self._num_classes()
        if labels.ndim != 1:
            raise DatasetError(
                f"{name}: {path} holds its labels in {key!r} as an array of shape "
                f"{'×'.join(map(str, labels.shape))}, but CIFAR holds a flat list of one label "
                f'per image: write them as a list of N ints (labels.ravel().tolist() of a '
                f'column)')
        if len(labels) != num_images:
            raise DatasetError(
                f"{name}: {path} holds {num_images} images in 'data' but {len(labels)} labels "
                f'in {key!r}, so every label after a missing one would go to the wrong image: '
                f'write the file with one label per image')
        if labels.size and labels.dtype.kind not in 'iu':
            raise DatasetError(
                f'{name}: {path} holds {labels.dtype} labels in {key!r}, but a label is a '
                f'class index: write them as integers 0..{num_classes - 1}')
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if bad.size:
            index, value = int(bad[0]), int(labels[bad[0]])
            raise DatasetError(
                f'{name}: {path} holds label {value} at sample {index} (the first outside '
                f'0..{num_classes - 1}), but {name} has {num_classes} classes: correct the '
                f'labels{self._other_type_hint(value + 1)}')

    def _check_meta(self, path: str) -> None:
        """The meta file's class names (``label_names`` / ``fine_label_names``) must be as
        many as the dataset's classes."""
        meta, key = self._load_pickle(path, 'meta file'), self.meta['key']
        if key not in meta:
            raise self._missing_key_error(path, meta, key, f'the class names under {key!r}')
        count, num_classes = len(meta[key]), self._num_classes()
        if count != num_classes:
            name = type(self).__name__
            raise DatasetError(
                f'{name}: {path} names {count} classes under {key!r}, but {name} has '
                f'{num_classes} classes: write the file with {num_classes} class names'
                f'{self._other_type_hint(count)}')

    def _num_classes(self) -> int:
        """The dataset's class count (its metainfo's ``classes``)."""
        return len(self.CLASSES)

    def _other_type_hint(self, num_classes: int) -> str:
        """For data of ``num_classes`` classes that another registered type reads, the
        clause naming it (CIFAR-100 data read as CIFAR-10), else nothing."""
        if self.wider_type is None or not self._num_classes() < num_classes <= 100:
            return ''
        return (f', or, if it is CIFAR-100 data, read it with type={self.wider_type!r} '
                f'(files train, test and meta in cifar-100-python)')

    def _missing_files_error(self, folder: str, missing: list[str]) -> FileNotFoundError:
        """Name the ``missing`` files of ``folder`` and the two ways to get them: extract
        the archive by hand (the configs' way: none sets ``download``), or let mmpretrain
        download it, which takes ``download=True`` in every dataloader's dataset dict."""
        return FileNotFoundError(
            f'{type(self).__name__}: {folder} lacks {", ".join(missing)}; extract the '
            f'official "python version" archive ({self.url}) in '
            f'{osp.normpath(self.data_prefix["root"])} (docs/classification.md, "Data"), or set '
            f'download=True on the dataset to have mmpretrain fetch it there (in a config: '
            f'train_dataloader.dataset.download=True, and the same for val_dataloader and '
            f'test_dataloader)')

    def _unreadable_file(self, folder: str) -> str:
        """The first file of the split that does not unpickle, else the folder (the files
        unpickle, but hold no CIFAR batch)."""
        entries = self.train_list if self.split == 'train' else self.test_list
        for name, _ in entries:
            path = osp.join(folder, name)
            try:
                with open(path, 'rb') as file:
                    pickle.load(file, encoding='latin1')
            except Exception:  # any failure to unpickle (a cut frame may even ask for
                return path  # more memory than there is)
        return f'a file in {folder}'

    def _check_md5_sums(self, folder: str) -> None:
        """Name the files whose md5 sums differ from the official archive's (none are
        checked with ``verify_md5=False``)."""
        wrong = [name for name, md5 in self.train_list + self.test_list
                 if md5 is not None and not check_md5(osp.join(folder, name), md5)]
        if wrong:
            raise DatasetError(
                f'{type(self).__name__}: {", ".join(wrong)} in {folder} do not carry the md5 '
                f'sums of the official archive (corrupt, truncated or another version): '
                f'extract the archive ({self.url}) again, or set verify_md5=False for files '
                f'written in this format on purpose')


@DATASETS.register_module()
class CIFAR10(DrawSeededPipeline, _OptionalMD5, _MMPretrainCIFAR10):
    """mmpretrain's ``CIFAR10`` plus ``verify_md5`` (default True: unchanged behaviour) and
    augmentations drawn from (seed, epoch, draw) for the indices of a ``DrawSeededSampler``
    (:class:`~rga_mm.datasets.augmentation_seed.DrawSeededPipeline`)."""

    wider_type = 'rga_mm.CIFAR100'


@DATASETS.register_module()
class CIFAR100(DrawSeededPipeline, _OptionalMD5, _MMPretrainCIFAR100):
    """mmpretrain's ``CIFAR100`` as :class:`CIFAR10` extends ``CIFAR10``."""

    labels_key = 'fine_labels'
