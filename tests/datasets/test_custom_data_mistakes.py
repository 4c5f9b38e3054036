"""Own re-ID data (docs/reid.md, "Train on your own data"): an annotation file whose accented
names are encoded otherwise than the files on disk finds them, and an empty data_root is
refused in one sentence, as None is."""
import re
import unicodedata

import cv2
import numpy as np
import pytest

from rga_mm.datasets import CustomReIDAnnotations, CustomReIDFolders, Market1501
from rga_mm.errors import ConfigError, DatasetError

HEADER = 'img_path,person_id,camera_id,split'


@pytest.mark.parametrize('on_disk, in_file', [('NFD', 'NFC'), ('NFC', 'NFD')],
                         ids=['macos-names', 'composed-names'])
def test_a_name_in_another_unicode_normalisation_finds_its_file(tmp_path, on_disk, in_file):
    image = np.zeros((8, 4, 3), np.uint8)
    rows = []
    for identity, camera in ((1, 1), (1, 2), (2, 1)):
        name = f'Zoë Müller/José_{identity}_c{camera}.jpg'
        disk = tmp_path / unicodedata.normalize(on_disk, name)
        disk.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(disk), image)
        rows.append(f'{unicodedata.normalize(in_file, name)},{identity},{camera},train')
    (tmp_path / 'ann.csv').write_text('\n'.join([HEADER, *rows]) + '\n', encoding='utf-8')
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file='ann.csv')
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    on_disk_paths = sorted(str(path) for path in tmp_path.glob('*/*.jpg'))
    assert sorted(paths) == on_disk_paths  # the files' own names, which cv2 opens
    assert [dataset.get_data_info(i)['gt_label'] for i in range(3)] == [0, 0, 1]


@pytest.mark.parametrize('data_root', ['', '  '], ids=['empty', 'spaces'])
def test_an_empty_data_root_is_refused_with_the_fix(tmp_path, data_root):
    image = tmp_path / 'a_c1.jpg'
    cv2.imwrite(str(image), np.zeros((8, 4, 3), np.uint8))
    (tmp_path / 'ann.csv').write_text(f'{HEADER}\n{image},1,1,train\n')
    with pytest.raises(ConfigError, match=r"^CustomReIDAnnotations: data_root is empty; set "
                                          r"data_root to the dataset's folder, which a "
                                          r'relative img_path or ann_file starts from .*, or '
                                          r"'\.' for the current folder$"):
        CustomReIDAnnotations(data_root=data_root, ann_file=str(tmp_path / 'ann.csv'))
    with pytest.raises(ConfigError, match=r"^CustomReIDFolders: data_root is empty; set "
                                          r"data_root to the dataset's folder, or '\.' for"):
        CustomReIDFolders(data_root=data_root)


def test_a_missing_annotation_file_names_the_ones_beside_it(tmp_path):
    """The config's default ann_file (annotations.csv) where the data has a .jsonl file."""
    (tmp_path / 'annotations.jsonl').write_text('')
    (tmp_path / 'notes.txt').write_text('')
    with pytest.raises(FileNotFoundError,
                       match=rf'^CustomReIDAnnotations: {tmp_path}/annotations.csv not '
                             r'found; expected .*; '
                             rf'{tmp_path} holds annotations.jsonl: if it is yours, set '
                             r'ann_file to it '
                             r'\(on the command line in train_dataloader.dataset, '
                             r'val_dataloader.dataset and test_dataloader.dataset\)$'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='annotations.csv')
    (tmp_path / 'images').mkdir()
    with pytest.raises(DatasetError, match=rf'^CustomReIDAnnotations: ann_file '
                                           rf'{tmp_path}/images is a folder; name the '
                                           r'annotation file'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='images')


def test_an_argument_no_constructor_takes_is_refused_with_the_closest_one(tmp_path):
    """mmengine's BaseDataset would refuse it with a TypeError traceback."""
    with pytest.raises(ConfigError, match=r"^Market-1501 takes no argument 'pipline' \(a key of "
                                          r"its dataset dict\); did you mean 'pipeline'\? It "
                                          r"takes data_root, split, metainfo, "):
        Market1501(data_root=str(tmp_path), pipline=[])
    with pytest.raises(ConfigError, match=r"^CustomReIDFolders takes no argument 'ann_flie' \(a "
                                          r"key of its dataset dict\)\. It takes data_root, "
                                          r"camera_pattern, suffixes, split, metainfo, "):
        CustomReIDFolders(data_root=str(tmp_path), ann_flie='x.csv')


@pytest.mark.parametrize('dataset', [CustomReIDFolders, Market1501])
def test_an_annotation_file_for_a_folder_layout_is_refused_not_ignored(dataset, tmp_path):
    with pytest.raises(ConfigError, match=rf"^{re.escape(dataset.dataset_name)} reads no "
                                          rf"annotation file \(.*\), so ann_file='x.csv' would "
                                          rf"be ignored: leave it out, or use "
                                          rf"CustomReIDAnnotations"):
        dataset(data_root=str(tmp_path), ann_file='x.csv')
