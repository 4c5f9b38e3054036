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

from mmpretrain.datasets import CIFAR10 as _MMPretrainCIFAR10
from mmpretrain.datasets import CIFAR100 as _MMPretrainCIFAR100

from rga_mm.registry import DATASETS


def _without_md5(entries: list) -> list:
    """``[[filename, md5], ...]`` → ``[[filename, None], ...]`` (mmpretrain skips None)."""
    return [[filename, None] for filename, _ in entries]


class _OptionalMD5:
    """Mixin: ``verify_md5=False`` blanks the md5 sums on the instance before loading."""

    def __init__(self, *args, verify_md5: bool = True, download: bool = False, **kwargs):
        self.verify_md5 = verify_md5
        if not verify_md5:
            self.train_list = _without_md5(self.train_list)
            self.test_list = _without_md5(self.test_list)
            self.meta = {**self.meta, 'md5': None}
        super().__init__(*args, download=download, **kwargs)

    def load_data_list(self) -> list[dict]:
        """mmpretrain's, after naming the folder and the files when data is missing
        (mmpretrain's own message suggests a download, which offline runs do not do)."""
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        missing = [name for name, _ in self.train_list + self.test_list + [[
            self.meta['filename'], None]] if not osp.isfile(osp.join(folder, name))]
        if missing and not self.download:
            raise FileNotFoundError(
                f'{type(self).__name__}: {folder} lacks {", ".join(missing)}; extract the '
                f'official "python version" archive ({self.url}) under data_root '
                f'(docs/classification.md), or pass download=True to fetch it')
        return super().load_data_list()


@DATASETS.register_module()
class CIFAR10(_OptionalMD5, _MMPretrainCIFAR10):
    """mmpretrain's ``CIFAR10`` plus ``verify_md5`` (default True: unchanged behaviour)."""


@DATASETS.register_module()
class CIFAR100(_OptionalMD5, _MMPretrainCIFAR100):
    """mmpretrain's ``CIFAR100`` plus ``verify_md5`` (default True: unchanged behaviour)."""
