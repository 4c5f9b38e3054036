"""rga_mm.CIFAR10/100: mmpretrain's CIFAR loading with an optional md5 check, and
augmentations drawn from (seed, epoch, draw) for the items of ``DrawSeededSampler``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.registry import DefaultScope

from rga_mm.datasets import CIFAR10, CIFAR100
from rga_mm.datasets.augmentation_seed import SampleIndex
from rga_mm.datasets.samplers import DrawSeededSampler
from rga_mm.errors import DatasetError
from cifar_files import write_cifar

CIFAR_CONFIG = Path(__file__).parents[2] / 'configs/_base_/datasets/cifar10.py'


@pytest.mark.parametrize('dataset, which, first_file', [
    (CIFAR10, 10, 'cifar-10-batches-py/data_batch_1'),
    (CIFAR100, 100, 'cifar-100-python/train')])
def test_generated_pickles_load_through_mmpretrains_parser(tmp_path, dataset, which,
                                                           first_file):
    root = write_cifar(tmp_path, which, num_train=20, num_test=10)
    train = dataset(data_root=str(root), split='train', verify_md5=False)
    test = dataset(data_root=str(root), split='test', verify_md5=False)
    assert len(train) == 20 and len(test) == 10
    sample = train.get_data_info(3)
    assert sample['img'].shape == (32, 32, 3) and sample['img'].dtype == np.uint8
    assert sample['gt_label'] == 3
    assert len(train.CLASSES) == which
    # the default keeps mmpretrain's md5 check: generated files are not the official ones,
    # and each is named
    files = ', '.join(name for name, _ in dataset.train_list + dataset.test_list)
    with pytest.raises(DatasetError, match=rf'{dataset.__name__}: {files} in \S+ do not carry '
                                           r'the md5 sums of the official archive'):
        dataset(data_root=str(root), split='train')
    # the structure is still required without md5, and a missing file is named
    (root / first_file).unlink()
    with pytest.raises(FileNotFoundError, match=f'lacks {first_file.split("/")[1]}; extract'):
        dataset(data_root=str(root), split='test', verify_md5=False)


@pytest.mark.parametrize('dataset, folder, first', [
    (CIFAR10, 'cifar-10-batches-py', 'data_batch_1'), (CIFAR100, 'cifar-100-python', 'train')])
def test_missing_data_names_the_folder_and_files_offline(tmp_path, dataset, folder, first):
    with pytest.raises(FileNotFoundError, match=rf'{tmp_path / folder} lacks {first}, .*extract '
                                                r'the official "python version" archive'):
        dataset(data_root=str(tmp_path), split='train')


@pytest.mark.parametrize('content', [b'', b'\x80\x04\x95 truncated'])
@pytest.mark.parametrize('dataset, which, first_file', [
    (CIFAR10, 10, 'cifar-10-batches-py/data_batch_1'),
    (CIFAR100, 100, 'cifar-100-python/train')])
def test_a_truncated_or_empty_batch_file_is_named_with_the_fix(tmp_path, dataset, which,
                                                              first_file, content):
    root = write_cifar(tmp_path, which, num_train=20, num_test=10)
    (root / first_file).write_bytes(content)
    with pytest.raises(DatasetError, match=rf'{dataset.__name__}: {root / first_file} cannot '
                                           r'be read as a CIFAR batch .*extract the official '
                                           r'archive'):
        dataset(data_root=str(root), split='train', verify_md5=False)


@pytest.mark.parametrize('dataset, which', [(CIFAR10, 10), (CIFAR100, 100)])
def test_a_drawn_items_crop_and_flip_depend_on_seed_epoch_and_draw_only(tmp_path, dataset,
                                                                        which):
    """The configs' training pipeline on items of ``DrawSeededSampler``: the same
    (seed, epoch, draw) gives the same crop and flip whatever the global random state,
    which it leaves as it was; other draws of the same image other ones (of 8, at least
    one differs); a plain index augments from the global state, as in mmpretrain."""
    root = write_cifar(tmp_path, which, num_train=20, num_test=10)
    pipeline = Config.fromfile(str(CIFAR_CONFIG)).train_pipeline
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # the configs' scope
        train = dataset(data_root=str(root), split='train', verify_md5=False,
                        pipeline=pipeline)
    sampler = DrawSeededSampler(train, shuffle=True, seed=7)
    sampler.set_epoch(3)
    drawn = list(sampler)
    reference = DefaultSampler(train, shuffle=True, seed=7)
    reference.set_epoch(3)
    assert [int(item) for item in drawn] == list(reference)
    assert [(item.seed, item.epoch, item.draw) for item in drawn] == [
        (7, 3, position) for position in range(20)]

    np.random.seed(0)
    first = train[drawn[5]]['inputs']
    np.random.seed(1)
    state = np.random.get_state()[1]
    assert torch.equal(train[drawn[5]]['inputs'], first)
    assert np.array_equal(np.random.get_state()[1], state)
    others = [train[SampleIndex(int(drawn[5]), 7, 3, draw)]['inputs'] for draw in range(6, 14)]
    assert not all(torch.equal(other, first) for other in others)
    plain = [train[int(drawn[5])]['inputs'] for _ in range(8)]
    assert not all(torch.equal(image, plain[0]) for image in plain)
