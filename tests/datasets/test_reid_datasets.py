"""The re-ID datasets on tiny trees in the real layouts (paper §4.1 datasets)."""
import codecs
import logging
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest

from rga_mm.datasets import CUHK03, MSMT17, DatasetError, DukeMTMCReID, Market1501
from rga_mm.datasets.reid_dataset import ReIDDataset
from rga_mm.errors import ConfigError
from rga_mm.registry import DATASETS
from reid_trees import CUHK03_NP, DUKE, MARKET, write_msmt17, write_tree
from reid_trees import MSMT17 as MSMT17_LINES


def items(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def summary(dataset):
    """(file name, identity, camera) of every item, in order."""
    return [(osp.basename(item['img_path']), item['gt_label'], item['camera_id'])
            for item in items(dataset)]


def test_market_train_is_relabelled_in_id_order(market_root, logged):
    dataset = Market1501(data_root=market_root, split='train')
    assert summary(dataset) == [
        ('0002_c1s1_000451_03.jpg', 0, 0), ('0002_c2s1_000301_01.jpg', 0, 1),
        ('0002_c3s1_000551_01.jpg', 0, 2), ('0007_c1s6_028546_01.jpg', 1, 0),
        ('0007_c6s1_001151_02.jpg', 1, 5), ('0010_c2s1_001976_04.jpg', 2, 1)]
    assert not dataset.test_mode
    table = logged[0]
    assert 'Market-1501' in table and market_root in table
    assert ' train ' in table and ' 3 ' in table and ' 6 ' in table and ' 4 ' in table


def test_market_gallery_drops_junk_keeps_distractors(market_root):
    dataset = Market1501(data_root=market_root, split='gallery')
    assert summary(dataset) == [
        ('0000_c1s1_000151_01.jpg', 0, 0), ('0000_c4s2_059471_04.jpg', 0, 3),
        ('0001_c1s1_001051_01.jpg', 1, 0), ('0001_c2s1_000301_01.jpg', 1, 1),
        ('0003_c3s1_000551_02.jpg', 3, 2)]
    assert dataset.test_mode


def test_test_split_is_query_then_gallery_with_original_ids(market_root, logged):
    dataset = DATASETS.build(dict(type='Market1501', data_root=market_root, split='test'))
    data = items(dataset)
    assert [item['is_query'] for item in data] == [True] * 2 + [False] * 5
    assert [item['gt_label'] for item in data] == [1, 3, 0, 0, 1, 1, 3]
    table = logged[0]
    assert ' query ' in table and ' gallery ' in table


def test_duke_has_eight_cameras(duke_root):
    dataset = DukeMTMCReID(data_root=duke_root, split='train')
    assert summary(dataset) == [
        ('0001_c2_f0046182.jpg', 0, 1), ('0001_c5_f0051341.jpg', 0, 4),
        ('0005_c2_f0070232.jpg', 1, 1), ('0005_c8_f0002470.jpg', 1, 7)]


def test_duke_camera_beyond_eight_names_the_file(tmp_path):
    tree = dict(DUKE, query=['0005_c9_f0046985.jpg'])
    root = str(write_tree(tmp_path / 'duke', tree))
    with pytest.raises(ValueError, match=r'camera 9 in .*0005_c9_f0046985\.jpg is outside '
                                         r'1\.\.8'):
        DukeMTMCReID(data_root=root, split='query')


@pytest.mark.parametrize('box_type', ['labeled', 'detected'])
def test_cuhk03_np_layout(cuhk03_np_root, box_type):
    dataset = CUHK03(data_root=cuhk03_np_root, box_type=box_type, split='train')
    assert summary(dataset) == [('0001_c1_1.png', 0, 0), ('0001_c2_6.png', 0, 1),
                                ('0003_c1_2.png', 1, 0), ('0003_c2_7.png', 1, 1)]
    assert all(f'{os.sep}{box_type}{os.sep}' in item['img_path'] for item in items(dataset))


@pytest.mark.parametrize('version, folders', [('MSMT17_V1', ('train', 'test')),
                                              ('MSMT17_V2', ('mask_train_v2', 'mask_test_v2'))])
def test_msmt17_v1_and_v2(tmp_path, version, folders):
    root = write_msmt17(tmp_path / version, folders)
    train = MSMT17(data_root=root, split='train')
    assert summary(train) == [('0000_000_01_0303morning_0008_0.jpg', 0, 0),
                              ('0000_001_01_0303morning_0009_1.jpg', 0, 0),
                              ('0001_000_07_0303noon_0020_0.jpg', 1, 6),
                              ('0002_003_15_0303afternoon_0702_0.jpg', 2, 14)]
    assert all(osp.isfile(item['img_path']) for item in items(train))
    assert all(f'{os.sep}{folders[0]}{os.sep}' in item['img_path'] for item in items(train))
    test = MSMT17(data_root=root, split='test')
    assert [(osp.basename(item['img_path']), item['gt_label'], item['camera_id'],
             item['is_query']) for item in items(test)] == [
        ('0000_000_01_0303morning_0015_0.jpg', 0, 0, True),
        ('0003_005_12_0304morning_0100_2.jpg', 3, 11, True),
        ('0000_001_03_0303morning_0016_0.jpg', 0, 2, False),
        ('0003_006_04_0304noon_0110_1.jpg', 3, 3, False),
        ('0003_007_04_0304noon_0111_0.jpg', 3, 3, False)]
    assert all(f'{os.sep}{folders[1]}{os.sep}' in item['img_path'] for item in items(test))


def test_msmt17_without_val(tmp_path):
    train = MSMT17(data_root=write_msmt17(tmp_path / 'MSMT17_V1'), split='train',
                   with_val=False)
    assert len(train) == 3 and {item['gt_label'] for item in items(train)} == {0, 1}


def test_msmt17_bad_list_line_names_the_line(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    with open(osp.join(root, 'list_query.txt'), 'a') as file:
        file.write('0004/broken.jpg 4\n')
    with pytest.raises(ValueError, match=r'cannot parse line 3 of .*list_query\.txt; '
                                         r'expected the pattern .*0303morning'):
        MSMT17(data_root=root, split='query')


# Identities are whole numbers wherever they enter: a float is an error naming the value and
# its file, never truncated (3.5 would become 3); an integral float such as 3.0 is refused
# too, since it says the file is not what the parser expects.

@pytest.mark.parametrize('label', ['3.5', '3.0', '3e0'])
def test_msmt17_non_integer_identity_names_value_and_file(tmp_path, label):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    with open(osp.join(root, 'list_query.txt'), 'a') as file:
        file.write(f'0003/0003_008_12_0304morning_0120_0.jpg {label}\n')
    with pytest.raises(ValueError, match=rf"MSMT17: the identity '{re.escape(label)}' on "
                                         rf"line 3 of .*list_query\.txt is not an integer"):
        MSMT17(data_root=root, split='query')


def test_market_non_integer_identity_names_the_file(tmp_path):
    tree = dict(MARKET, query=['0001_c1s1_001051_00.jpg', '0003.5_c1s1_000151_00.jpg'])
    root = str(write_tree(tmp_path / 'market', tree))
    with pytest.raises(ValueError,
                       match=r'cannot parse .*query.0003\.5_c1s1_000151_00\.jpg'):
        Market1501(data_root=root, split='query')


class FloatLabelDataset(ReIDDataset):
    """A user's dataset whose annotations hold float identities (e.g. read from a CSV)."""

    dataset_name = 'FloatLabels'
    layout = 'a CSV'

    def __init__(self, data_root, label, **kwargs):
        self.label = label
        super().__init__(data_root=data_root, **kwargs)

    def load_split(self, split):
        return [dict(img_path=f'{split}/0.jpg', gt_label=1, camera_id=0),
                dict(img_path=f'{split}/1.jpg', gt_label=self.label, camera_id=1)]

    @classmethod
    def holds_layout(cls, root):
        return False


@pytest.mark.parametrize('label', [2.5, 2.0])
@pytest.mark.parametrize('split, first_loaded', [('train', 'train'), ('test', 'query')])
def test_float_identity_from_any_dataset_names_value_and_image(tmp_path, label, split,
                                                               first_loaded):
    with pytest.raises(ValueError, match=rf'FloatLabels: gt_label of {first_loaded}/1\.jpg is '
                                         rf'{re.escape(repr(label))}; .* integers'):
        FloatLabelDataset(str(tmp_path), label, split=split)


def test_integer_identity_of_a_numpy_type_is_accepted(tmp_path):
    dataset = FloatLabelDataset(str(tmp_path), np.int64(4), split='query')
    assert [item['gt_label'] for item in items(dataset)] == [1, 4]


# Bad input: each one a clear error naming the path and what was expected

def test_missing_folder_names_path_and_layout(market_root):
    os.rename(osp.join(market_root, 'query'), osp.join(market_root, 'queries'))
    with pytest.raises(FileNotFoundError, match=r'Market-1501: .*query not found; expected '
                                                r'bounding_box_train/, query/ and '
                                                r'bounding_box_test/ under data_root'):
        Market1501(data_root=market_root, split='query')


def test_missing_root(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r'data_root .*nowhere is not a folder; '
                                                r'expected [^~]*$'):
        Market1501(data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match=r"data_root ~/nowhere is not a folder; .*; a "
                                                r"'~' is not expanded here .*: give the whole "
                                                r"path$"):
        Market1501(data_root='~/nowhere')
    with pytest.raises(FileNotFoundError, match=r'data_root .*run~1 is not a folder; '
                                                r'expected [^~]*$'):  # no ~ to expand
        Market1501(data_root=str(tmp_path / 'run~1'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match='^' + re.escape(
            f'Market-1501: data_root data/nowhere is not a folder (relative to {tmp_path}); '
            f'expected')):
        Market1501(data_root='data/nowhere')


def test_unparsable_name_names_file_and_pattern(tmp_path):
    tree = dict(MARKET, query=['0001_c1s1_001051_00.jpg', 'person1_cam1.jpg'])
    root = str(write_tree(tmp_path / 'market', tree))
    with pytest.raises(DatasetError, match=r'cannot parse .*query.person1_cam1\.jpg; expected '
                                           r'the pattern .*\(e\.g\. 0002_c1s1_000451_03\.jpg\)'):
        Market1501(data_root=root, split='query')


@pytest.mark.parametrize('split', ['train', 'test'])
def test_macos_metadata_files_are_skipped(tmp_path, market_root, split):
    """The ``._`` AppleDouble file macOS writes beside each image, in the split folders and
    in the ``__MACOSX`` folder of an archive made on macOS."""
    tree = {folder: names + [f'._{name}' for name in names] for folder, names in MARKET.items()}
    tree.update({f'__MACOSX/{folder}': [f'._{name}' for name in names]
                 for folder, names in MARKET.items()})
    root = str(write_tree(tmp_path / 'unzipped_on_a_mac', tree))
    assert Market1501.holds_layout(root)
    assert (summary(Market1501(data_root=root, split=split)) ==
            summary(Market1501(data_root=market_root, split=split)))


def test_empty_query_is_an_error(tmp_path):
    root = str(write_tree(tmp_path / 'market', dict(MARKET, query=['Thumbs.db'])))
    with pytest.raises(ValueError, match='Market-1501: the query split under .* has no '
                                         'images'):
        Market1501(data_root=root, split='test')


def test_duke_root_given_to_market_is_recognised(duke_root):
    with pytest.raises(ValueError, match=r'holds the DukeMTMC-reID layout, use '
                                         r'DukeMTMCReID for it'):
        Market1501(data_root=duke_root)


def test_msmt17_root_given_to_market_is_recognised(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    with pytest.raises(FileNotFoundError, match=r'bounding_box_train not found.*holds the '
                                                r'MSMT17 layout, use MSMT17 for it'):
        Market1501(data_root=root)


def test_market_root_given_to_msmt17_is_recognised(market_root):
    with pytest.raises(FileNotFoundError, match='holds the Market-1501 layout'):
        MSMT17(data_root=market_root)


def test_market_root_given_to_cuhk03_is_recognised(market_root):
    with pytest.raises(FileNotFoundError, match=r'labeled.bounding_box_train not found.*'
                                                r'holds the Market-1501 layout'):
        CUHK03(data_root=market_root)


def test_parent_folder_suggests_the_dataset_folder(market_root):
    parent = osp.dirname(market_root)
    with pytest.raises(FileNotFoundError, match='did you mean data_root=' + market_root):
        Market1501(data_root=parent)


def test_a_data_root_one_folder_too_deep_suggests_the_folder_above(tmp_path):
    """CUHK03-NP given as its detected/ folder (box type and root one level off)."""
    root = tmp_path / 'cuhk03-np'
    write_tree(root / 'detected', CUHK03_NP)
    deep = root / 'detected'
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'; did you mean data_root={root}?')):
        CUHK03(data_root=str(deep), box_type='detected')


def test_the_other_cuhk03_box_type_is_named_when_it_is_the_one_there(tmp_path):
    write_tree(tmp_path / 'detected', CUHK03_NP)
    with pytest.raises(FileNotFoundError) as error:
        CUHK03(data_root=str(tmp_path))  # box_type 'labeled' by default
    assert str(error.value).endswith(
        f"; {tmp_path} holds the detected boxes alone: set box_type='detected'")
    assert len(CUHK03(data_root=str(tmp_path), box_type='detected', split='train')) == 4


def test_split_images_one_folder_too_deep_are_named_with_the_fix(tmp_path):
    """An archive unpacked into a folder of its own name: bounding_box_train/
    bounding_box_train/*.jpg."""
    write_tree(tmp_path, MARKET)
    train = tmp_path / 'bounding_box_train'
    nested = train / 'bounding_box_train'
    nested.mkdir()
    for image in list(train.glob('*.jpg')):
        image.rename(nested / image.name)
    with pytest.raises(DatasetError) as error:
        Market1501(data_root=str(tmp_path), split='train')
    assert str(error.value) == (
        f'Market-1501: {train} holds no image, but its subfolder {nested} does (unpacked one '
        f'folder too deep?); the images of a split lie directly in its folder: move them up '
        f'into {train}')


def test_original_cuhk03_release_asks_for_the_converter(tmp_path):
    (tmp_path / 'cuhk03_release').mkdir()
    (tmp_path / 'cuhk03_release' / 'cuhk-03.mat').touch()
    with pytest.raises(FileNotFoundError, match=r'holds the original CUHK03 release, convert '
                                                r'it first: python tools/dataset_converters/'
                                                r'cuhk03\.py'):
        CUHK03(data_root=str(tmp_path))


@pytest.mark.parametrize('dataset, setting, value, expected', [
    (Market1501, 'split', 'Train', "Market-1501: split 'Train' is not one of 'train', 'query', "
                                   "'gallery', 'test'; did you mean 'train'?"),
    (Market1501, 'split', 'val', "Market-1501: split 'val' is not one of 'train', 'query', "
                                 "'gallery', 'test'"),
    (CUHK03, 'box_type', 'Labeled', "CUHK03: box_type 'Labeled' is not one of 'labeled', "
                                    "'detected'; did you mean 'labeled'?"),
    (CUHK03, 'box_type', 'detect', "CUHK03: box_type 'detect' is not one of 'labeled', "
                                   "'detected'; did you mean 'detected'?"),
    (CUHK03, 'box_type', 'manual', "CUHK03: box_type 'manual' is not one of 'labeled', "
                                   "'detected'"),
])
def test_bad_split_and_box_type_name_the_accepted_values(cuhk03_np_root, dataset, setting,
                                                         value, expected):
    """A ConfigError, which the tools turn into the message alone."""
    with pytest.raises(ConfigError, match=f'^{re.escape(expected)}$'):
        dataset(data_root=cuhk03_np_root, **{setting: value})


def test_bad_split_from_a_config_is_a_config_error(market_root):
    with pytest.raises(ConfigError, match=r"^Market-1501: split 'Query' .*'query'\?$"):
        DATASETS.build(dict(type='Market1501', data_root=market_root, split='Query'))


# MSMT17: the image folders of one release (V1 or V2), and each image listed once

@pytest.mark.parametrize('folders, missing', [
    (('train', None), 'test'), ((None, 'test'), 'train'),
    (('mask_train_v2', None), 'mask_test_v2'), ((None, 'mask_test_v2'), 'mask_train_v2')])
def test_msmt17_names_the_missing_image_folder(tmp_path, folders, missing):
    root = write_msmt17(tmp_path / 'MSMT17', [folder or 'unused' for folder in folders])
    shutil.rmtree(osp.join(root, 'unused'))
    present = next(folder for folder in folders if folder)
    with pytest.raises(FileNotFoundError, match=(
            f'^MSMT17: {re.escape(osp.join(root, missing))} not found; data_root holds the image '
            r'folders of one release, train/ and test/ \(MSMT17_V1\) or mask_train_v2/ and '
            rf'mask_test_v2/ \(MSMT17_V2\), and {re.escape(root)} holds only {present}/$')):
        MSMT17(data_root=root, split='train')


def test_msmt17_names_both_missing_folders_of_mixed_releases(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17', ('train', 'mask_test_v2'))
    with pytest.raises(FileNotFoundError, match=(
            f'^MSMT17: {re.escape(osp.join(root, "test"))} and '
            f'{re.escape(osp.join(root, "mask_train_v2"))} not found; data_root holds the '
            r'image folders of one release, .*, and '
            f'{re.escape(root)} holds only train/ and mask_test_v2/$')):
        MSMT17(data_root=root, split='query')


def test_msmt17_without_image_folders_names_the_layouts(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17', ('images', 'images'))
    with pytest.raises(FileNotFoundError, match=(
            f'^MSMT17: {re.escape(root)} holds no image folder; expected train/ and test/ '
            r'\(MSMT17_V1\) or mask_train_v2/ and mask_test_v2/ \(MSMT17_V2\) beside the '
            r'list files$')):
        MSMT17(data_root=root, split='train')


def test_msmt17_missing_list_file_is_named(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    os.remove(osp.join(root, 'list_gallery.txt'))
    with pytest.raises(FileNotFoundError,
                       match=f'^MSMT17: {re.escape(osp.join(root, "list_gallery.txt"))} not '
                             'found; expected list_'):
        MSMT17(data_root=root, split='test')


def append_line(root, name, line):
    with open(osp.join(root, f'list_{name}.txt'), 'a') as file:
        file.write(line + '\n')


def test_msmt17_duplicate_line_names_both_lines(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    append_line(root, 'query', MSMT17_LINES['query'][0])
    path = osp.join(root, 'list_query.txt')
    with pytest.raises(DatasetError, match=(
            f'^MSMT17: line 3 of {re.escape(path)} lists '
            r'0000/0000_000_01_0303morning_0015_0\.jpg again, first on line 1; each image '
            r'has one line$')):
        MSMT17(data_root=root, split='test')


def test_msmt17_image_in_train_and_val_lists_names_both_files(tmp_path):
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    append_line(root, 'val', MSMT17_LINES['train'][1])
    val, train = (osp.join(root, f'list_{name}.txt') for name in ('val', 'train'))
    with pytest.raises(DatasetError, match=(
            f'^MSMT17: line 2 of {re.escape(val)} lists '
            r'0000/0000_001_01_0303morning_0009_1\.jpg again, first on line 2 of '
            f'{re.escape(train)}; each image has one line$')):
        MSMT17(data_root=root, split='train')
    assert len(MSMT17(data_root=root, split='train', with_val=False)) == 3


def test_msmt17_images_listed_but_missing_are_counted_and_the_first_named(tmp_path):
    """Before training starts, not when the sampler first draws one; a file saved as .JPG
    where the list says .jpg is missing too."""
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    train_lines = MSMT17_LINES['train']
    first, second = (line.split()[0] for line in train_lines[:2])
    os.remove(osp.join(root, 'train', first))
    os.rename(osp.join(root, 'train', second),
              osp.join(root, 'train', second.replace('.jpg', '.JPG')))
    path = osp.join(root, 'list_train.txt')
    with pytest.raises(DatasetError) as error:
        MSMT17(data_root=root, split='train', with_val=False)
    assert str(error.value) == (f'MSMT17: 2 image(s) listed in {path} are not in '
                                f'{osp.join(root, "train")} (the first: {first}, line 1); '
                                f'restore them from the release')
    shutil.rmtree(osp.join(root, 'test', MSMT17_LINES['query'][1].split('/')[0]))
    with pytest.raises(DatasetError, match=r'^MSMT17: 1 image\(s\) listed in .*list_query'
                                           r'\.txt are not in .*test \(the first: 0003/'):
        MSMT17(data_root=root, split='test')


@pytest.mark.parametrize('encode', [lambda text: text.encode('utf-16'),
                                    lambda text: codecs.BOM_UTF8 + text.encode(),
                                    lambda text: text.replace('\n', '\r').encode()],
                         ids=['utf-16', 'utf-8 with a byte-order mark', 'CR line ends'])
def test_msmt17_list_files_in_other_encodings_and_line_ends(tmp_path, encode):
    """A UTF-16 list is named with the fix; a byte-order mark and old Mac line ends load."""
    root = write_msmt17(tmp_path / 'MSMT17_V1')
    path = osp.join(root, 'list_query.txt')
    with open(path) as file:
        text = file.read()
    expected = summary(MSMT17(data_root=root, split='test'))
    with open(path, 'wb') as file:
        file.write(encode(text))
    if text.encode('utf-16') == encode(text):
        with pytest.raises(DatasetError, match=f'^MSMT17: {re.escape(path)} is UTF-16 .* save '
                                               f'it as UTF-8'):
            MSMT17(data_root=root, split='test')
    else:
        assert summary(MSMT17(data_root=root, split='test')) == expected


# Market-1501's layout loads *.jpg only, as torchreid does, and says what else it leaves out

@pytest.mark.parametrize('dataset, tree, folder, extra, suffix', [
    (Market1501, MARKET, 'query', ['0003_c4s1_000301_00.JPG', '0005_c1s1_000301_00.jpeg'],
     '.jpg'),
    (DukeMTMCReID, DUKE, 'query', ['0005_c3_f0046985.JPG'], '.jpg'),
    (CUHK03, {f'labeled/{k}': v for k, v in CUHK03_NP.items()}, 'labeled/query',
     ['0004_c1_5.PNG'], '.png')])
def test_other_image_files_are_left_out_with_one_warning(tmp_path, monkeypatch, dataset, tree,
                                                         folder, extra, suffix):
    warnings = []
    monkeypatch.setattr('rga_mm.datasets.reid_dataset.print_log',
                        lambda message, logger=None, level=logging.INFO:
                        warnings.append(message) if level == logging.WARNING else None)
    root = tmp_path / 'data'
    write_tree(root, tree)
    loaded = len(dataset(data_root=str(root), split='query'))
    write_tree(root, {folder: extra})
    assert len(dataset(data_root=str(root), split='query')) == loaded
    name = dataset.dataset_name
    assert warnings == [
        f'{name}: {root / folder} holds {len(extra)} image file(s) not named *{suffix}, the '
        f'first {extra[0]}; they are not loaded (only *{suffix} files are): rename them to '
        f'*{suffix} to load them']


def test_no_warning_for_non_image_files(market_root, monkeypatch):
    """Market-1501's Thumbs.db is no image."""
    levels = []
    monkeypatch.setattr('rga_mm.datasets.reid_dataset.print_log',
                        lambda message, logger=None, level=logging.INFO: levels.append(level))
    Market1501(data_root=market_root, split='test')
    assert levels == [logging.INFO]
