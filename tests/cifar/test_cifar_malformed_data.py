"""rga_mm.CIFAR10/100 with ``verify_md5=False`` refuse hand-made files that mmpretrain would
load wrongly (shifted or out-of-range labels, float pixels, another class count) or reject
with a bare error, in one sentence naming the file; a download that cannot reach the host
names the URL and the layout to extract by hand."""
import re
import urllib.error
import urllib.request

import numpy as np
import pytest

from rga_mm.datasets import CIFAR10, CIFAR100
from rga_mm.errors import DatasetError
from cifar_files import read_pickle, rewrite, write_cifar

HINT = (", or, if it is CIFAR-100 data, read it with type='rga_mm.CIFAR100' (files train, "
        'test and meta in cifar-100-python)')
BATCH = {CIFAR10: 'cifar-10-batches-py/data_batch_1', CIFAR100: 'cifar-100-python/train'}
META = {CIFAR10: 'cifar-10-batches-py/batches.meta', CIFAR100: 'cifar-100-python/meta'}


def _refused(dataset: type, root, message: str, split: str = 'train') -> None:
    """Loading ``split`` raises a DatasetError whose message is exactly ``message``."""
    with pytest.raises(DatasetError, match='^' + re.escape(message) + '$'):
        dataset(data_root=str(root), split=split, verify_md5=False)


@pytest.fixture
def root10(tmp_path):
    """A tiny CIFAR-10 folder: 4 images per training batch, 10 test images."""
    return write_cifar(tmp_path, 10, num_train=20, num_test=10)


@pytest.fixture
def root100(tmp_path):
    """A tiny CIFAR-100 folder: 20 training images, 10 test images."""
    return write_cifar(tmp_path, 100, num_train=20, num_test=10)


def test_a_label_beyond_the_classes_names_file_sample_value_and_class_count(root10):
    path = root10 / BATCH[CIFAR10]
    rewrite(path, labels=[0, 1, 12, 3])
    _refused(CIFAR10, root10, f'CIFAR10: {path} holds label 12 at sample 2 (the first outside '
                              f'0..9), but CIFAR10 has 10 classes: correct the labels{HINT}')


def test_cifar100_labels_read_as_cifar10_suggest_the_cifar100_type(root10):
    """CIFAR-100 batches put in a CIFAR-10 folder (mmpretrain reads ``fine_labels`` too)."""
    path = root10 / 'cifar-10-batches-py/test_batch'
    labels = read_pickle(path)['labels']
    rewrite(path, drop=('labels',), fine_labels=[7, 54] + labels[2:])
    _refused(CIFAR10, root10, f'CIFAR10: {path} holds label 54 at sample 1 (the first outside '
                              f'0..9), but CIFAR10 has 10 classes: correct the labels{HINT}',
             split='test')


@pytest.mark.parametrize('label', [-1, 100])
def test_a_cifar100_label_outside_0_to_99_has_no_other_type_to_suggest(root100, label):
    path = root100 / BATCH[CIFAR100]
    rewrite(path, fine_labels=[label] + read_pickle(path)['fine_labels'][1:])
    _refused(CIFAR100, root100, f'CIFAR100: {path} holds label {label} at sample 0 (the first '
                                f'outside 0..99), but CIFAR100 has 100 classes: correct the '
                                f'labels')


@pytest.mark.parametrize('dataset, key', [(CIFAR10, 'labels'), (CIFAR100, 'fine_labels')])
def test_one_label_short_of_the_images_names_both_lengths(tmp_path, dataset, key):
    root = write_cifar(tmp_path, 10 if dataset is CIFAR10 else 100, num_train=20, num_test=10)
    path = root / BATCH[dataset]
    labels = read_pickle(path)[key]
    rewrite(path, **{key: labels[:-1]})
    _refused(dataset, root, f"{dataset.__name__}: {path} holds {len(labels)} images in 'data' "
                            f'but {len(labels) - 1} labels in {key!r}, so every label after '
                            f'a missing one would go to the wrong image: write the file with '
                            f'one label per image')


def test_labels_that_are_no_integers_are_refused(root10):
    path = root10 / BATCH[CIFAR10]
    rewrite(path, labels=[0.0, 1.5, 2.0, 3.0])
    _refused(CIFAR10, root10, f"CIFAR10: {path} holds float64 labels in 'labels', but a label "
                              f'is a class index: write them as integers 0..9')


@pytest.mark.parametrize('labels', [np.arange(4).reshape(4, 1), [[0], [1], [2], [3]]])
def test_labels_as_a_column_are_refused_naming_the_flat_list(root10, labels):
    """The N×1 labels of MATLAB's archive: mmpretrain stopped on them with a bare
    TypeError."""
    path = root10 / BATCH[CIFAR10]
    rewrite(path, labels=labels)
    _refused(CIFAR10, root10, f"CIFAR10: {path} holds its labels in 'labels' as an array of "
                              f'shape 4×1, but CIFAR holds a flat list of one label per '
                              f'image: write them as a list of N ints (labels.ravel().tolist() '
                              f'of a column)')


@pytest.mark.parametrize('dtype, low, high', [
    (np.float32, 0.0, 1.0), (np.int16, -1, 300), (np.int64, 0, 255)])
def test_pixels_other_than_uint8_name_the_dtype_and_range(root10, dtype, low, high):
    path = root10 / BATCH[CIFAR10]
    data = np.full((4, 3072), (low + high) / 2).astype(dtype)
    data[0, 0], data[3, 3071] = low, high
    rewrite(path, data=data)
    _refused(CIFAR10, root10, f"CIFAR10: {path} holds {np.dtype(dtype)} pixels in "
                              f"{low}..{high} in 'data', but CIFAR holds uint8 pixels in "
                              f"0..255: write 'data' as a uint8 array of values 0..255")


@pytest.mark.parametrize('dataset', [CIFAR10, CIFAR100])
def test_rows_other_than_3072_wide_name_the_file_and_the_width(tmp_path, dataset):
    root = write_cifar(tmp_path, 10 if dataset is CIFAR10 else 100, num_train=20, num_test=10)
    path = root / BATCH[dataset]
    data = read_pickle(path)['data']
    rewrite(path, data=data[:, :1024])
    _refused(dataset, root, f"{dataset.__name__}: {path} holds 'data' of shape "
                            f'{len(data)}×1024, but a CIFAR batch holds one row of 3072 values '
                            f'per image (32×32 pixels as R, G and B planes): write \'data\' as '
                            f'an N×3072 array')


@pytest.mark.parametrize('dataset, drop, keys', [
    (CIFAR10, 'labels', "'batch_label', 'data', 'filenames'"),
    (CIFAR10, 'data', "'batch_label', 'labels', 'filenames'"),
    (CIFAR100, 'fine_labels', "'filenames', 'batch_label', 'coarse_labels', 'data'")])
def test_a_missing_key_names_the_file_and_the_keys_expected(tmp_path, dataset, drop, keys):
    root = write_cifar(tmp_path, 10 if dataset is CIFAR10 else 100, num_train=20, num_test=10)
    path = root / BATCH[dataset]
    rewrite(path, drop=(drop,))
    labels = 'labels' if dataset is CIFAR10 else 'fine_labels'
    _refused(dataset, root, f"{dataset.__name__}: {path} has no '{drop}' key (it has {keys}); "
                            f"write the file with its images under 'data' and its labels under "
                            f"'{labels}', as in the official archive")


@pytest.mark.parametrize('dataset, key, count, hint', [
    (CIFAR10, 'label_names', 9, ''), (CIFAR10, 'label_names', 100, HINT),
    (CIFAR100, 'fine_label_names', 20, '')])
def test_a_meta_file_with_another_class_count_names_both_counts(tmp_path, dataset, key, count,
                                                                hint):
    root = write_cifar(tmp_path, 10 if dataset is CIFAR10 else 100, num_train=20, num_test=10)
    path = root / META[dataset]
    rewrite(path, **{key: [f'name_{i}' for i in range(count)]})
    classes = 10 if dataset is CIFAR10 else 100
    _refused(dataset, root, f"{dataset.__name__}: {path} names {count} classes under '{key}', "
                            f'but {dataset.__name__} has {classes} classes: write the file with '
                            f'{classes} class names{hint}')


def test_a_meta_file_without_its_key_is_named(root10):
    path = root10 / META[CIFAR10]
    rewrite(path, drop=('label_names',))
    _refused(CIFAR10, root10, f"CIFAR10: {path} has no 'label_names' key (it has "
                              f"'num_cases_per_batch', 'num_vis'); write the file with the "
                              f"class names under 'label_names', as in the official archive")


@pytest.mark.parametrize('dataset, files', [
    (CIFAR10, 'data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, '
              'test_batch and batches.meta'),
    (CIFAR100, 'train, test and meta')])
def test_a_download_without_network_names_the_url_and_the_layout(tmp_path, monkeypatch,
                                                                 dataset, files):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')

    monkeypatch.setattr(urllib.request, 'urlopen', unreachable)
    with pytest.raises(DatasetError, match='^' + re.escape(
            f'{dataset.__name__}: download=True cannot fetch {dataset.url} ([Errno -3] '
            f'Temporary failure in name resolution), www.cs.toronto.edu is out of reach from '
            f'this machine; download the archive elsewhere and extract it by hand in '
            f'{tmp_path}, so that {tmp_path / dataset.base_folder} holds {files} '
            f'(docs/classification.md, "Data"), and leave download False') + '$'):
        dataset(data_root=str(tmp_path), split='train', download=True)


@pytest.mark.parametrize('dataset, which', [(CIFAR10, 10), (CIFAR100, 100)])
def test_well_formed_files_still_load_with_every_class(tmp_path, dataset, which):
    """The checks pass files that use every class index, 0 and the last included."""
    root = write_cifar(tmp_path, which, num_train=2 * which, num_test=which)
    train = dataset(data_root=str(root), split='train', verify_md5=False)
    labels = {train.get_data_info(index)['gt_label'] for index in range(len(train))}
    assert sorted(labels) == list(range(which))
