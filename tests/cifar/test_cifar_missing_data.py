"""rga_mm.CIFAR10/100 without their files: the error names the folder, the files, the docs
section and the config keys that turn mmpretrain's download on."""
import re

import pytest

from rga_mm.datasets import CIFAR10, CIFAR100


@pytest.mark.parametrize('dataset, folder, files', [
    (CIFAR10, 'cifar-10-batches-py', 'data_batch_1, data_batch_2, data_batch_3, data_batch_4, '
                                     'data_batch_5, test_batch, batches.meta'),
    (CIFAR100, 'cifar-100-python', 'train, test, meta')])
def test_missing_data_names_the_docs_section_and_the_config_keys_of_a_download(
        tmp_path, dataset, folder, files):
    """The configs set no ``download``, so the fix for a config user is either the archive
    extracted by hand (docs/classification.md, "Data") or ``download=True`` in each
    dataloader's dataset, not a constructor argument to "pass"."""
    with pytest.raises(FileNotFoundError, match='^' + re.escape(
            f'{dataset.__name__}: {tmp_path / folder} lacks {files}; extract the official '
            f'"python version" archive ({dataset.url}) in {tmp_path} '
            f'(docs/classification.md, "Data"), or set download=True on the dataset to have '
            f'mmpretrain fetch it there (in a config: train_dataloader.dataset.download=True, '
            f'and the same for val_dataloader and test_dataloader)') + '$'):
        dataset(data_root=str(tmp_path), split='train')
