"""CIFAR-10/100 (paper §4.3) through mmpretrain's own loading code, md5 check optional.

mmpretrain's ``CIFAR10`` / ``CIFAR100`` refuse any ``cifar-10-batches-py`` /
``cifar-100-python`` folder whose files do not carry the md5 sums of the official archives.
That is right for the real data, but pickles generated in the same format for
tests (or re-pickled copies) can never match. The subclasses below change nothing but that
check: with ``verify_md5=False`` the files must still exist under the same names and are
parsed by mmpretrain's unchanged ``load_data_list``; with the default ``verify_md5=True``
they behave exactly as mmpretrain's classes. ``download`` defaults to False (offline).
"""
import os.path as osp
import pickle
from typing import Any

from mmpretrain.datasets import CIFAR10 as _MMPretrainCIFAR10
from mmpretrain.datasets import CIFAR100 as _MMPretrainCIFAR100
from mmpretrain.datasets.utils import check_md5

from rga_mm.errors import DatasetError
from rga_mm.registry import DATASETS


def _without_md5(entries: list) -> list:
    """``[[filename, md5], ...]`` → ``[[filename, None], ...]`` (mmpretrain skips None)."""
    return [[filename, None] for filename, _ in entries]


class _OptionalMD5:
    """Mixin: ``verify_md5=False`` blanks the md5 sums on the instance before loading."""

    def __init__(self, *args: Any, verify_md5: bool = True, download: bool = False,
                 **kwargs: Any) -> None:
        self.verify_md5 = verify_md5
        if not verify_md5:
            self.train_list = _without_md5(self.train_list)
            self.test_list = _without_md5(self.test_list)
            self.meta = {**self.meta, 'md5': None}
        super().__init__(*args, download=download, **kwargs)

    def load_data_list(self) -> list[dict]:
        """mmpretrain's, naming the folder and the files when data is missing, corrupt or
        of another version (mmpretrain's own messages suggest a download, which offline
        runs do not do, or end in a bare pickle error)."""
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        missing = [name for name, _ in self.train_list + self.test_list + [[
            self.meta['filename'], None]] if not osp.isfile(osp.join(folder, name))]
        if missing and not self.download:
            raise self._missing_files_error(folder, missing)
        try:
            return super().load_data_list()
        except RuntimeError:  # mmpretrain's md5 check failed (it hashes every file itself)
            if not self.download:
                self._check_md5_sums(folder)
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as error:
            raise DatasetError(
                f'{type(self).__name__}: {self._unreadable_file(folder)} cannot be read as a '
                f'CIFAR batch ({type(error).__name__}: {error}); it is truncated or no CIFAR '
                f'file: extract the official archive ({self.url}) again') from None

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
class CIFAR10(_OptionalMD5, _MMPretrainCIFAR10):
    """mmpretrain's ``CIFAR10`` plus ``verify_md5`` (default True: unchanged behaviour)."""


@DATASETS.register_module()
class CIFAR100(_OptionalMD5, _MMPretrainCIFAR100):
    """mmpretrain's ``CIFAR100`` plus ``verify_md5`` (default True: unchanged behaviour)."""
