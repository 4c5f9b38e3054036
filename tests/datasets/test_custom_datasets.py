"""Re-ID datasets for your own data: an annotation file (CSV / JSON lines) and folders per
person, on tiny trees made here; the same splits, relabelling, junk, statistics and checks as
the public datasets (paper §4.1 protocol), and a bad row named by file and line."""
import codecs
import json
import os
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from rga_mm.datasets import (
    TEST_PIPELINE,
    CustomReIDAnnotations,
    CustomReIDFolders,
    DatasetError,
    Market1501,
)
from rga_mm.errors import ConfigError
from rga_mm.evaluation import ReIDMetric
from rga_mm.registry import DATASETS, TRANSFORMS
from rga_mm.testing import load_script
from reid_trees import MARKET_SPLITS, market_as_folders

ROOT = Path(__file__).parents[2]
CONFIGS = {name: ROOT / f'configs/reid/rga-sc_r50-ls1_1xb64-600e_custom-{name}-256x128.py'
           for name in ('annotations', 'folders')}
MARKET_CONFIG = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'
DEMO_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
MARKET_NAME = re.compile(r'(?P<identity>-1|\d{4})_c(?P<camera>\d)s')

# (img_path, person_id, camera_id, split): identity 3 and 7 to train, -1 junk, 0 a
# distractor, query 9 whose only gallery image shares its camera (legal: skipped by the metric)
ROWS = [('images/p7_a.jpg', 7, 1, 'train'), ('images/p7_b.jpg', 7, 2, 'train'),
        ('images/p3_a.jpg', 3, 1, 'train'), ('images/junk_a.jpg', -1, 3, 'train'),
        ('images/q5.jpg', 5, 1, 'query'), ('images/q9.jpg', 9, 2, 'query'),
        ('images/g5.jpg', 5, 2, 'gallery'), ('images/g9.jpg', 9, 2, 'gallery'),
        ('images/g0.jpg', 0, 3, 'gallery'), ('images/junk_b.jpg', -1, 1, 'gallery')]
HEADER = 'img_path,person_id,camera_id,split'


def summary(dataset):
    """(path relative to data_root, identity, camera[, is_query]) of every item, in order."""
    rows = []
    for index in range(len(dataset)):
        item = dataset.get_data_info(index)
        row = (osp.relpath(item['img_path'], dataset.data_root), item['gt_label'],
               item['camera_id'])
        rows.append(row + (item['is_query'], ) if 'is_query' in item else row)
    return rows


def write_annotations(root: Path, rows, suffix='.csv', images=True) -> str:
    """An annotation file of ``rows`` under ``root`` (and an empty file per image)."""
    root.mkdir(parents=True, exist_ok=True)
    if images:
        for path, *_ in rows:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).touch()
    name = f'annotations{suffix}'
    if suffix == '.csv':
        lines = [HEADER] + [','.join(str(value) for value in row) for row in rows]
    else:
        lines = [json.dumps(dict(zip(HEADER.split(','), row))) for row in rows]
    (root / name).write_text('\n'.join(lines) + '\n')
    return name


# --- the annotation file --------------------------------------------------------------

@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_annotations_train_is_relabelled_and_junk_dropped(tmp_path, logged, suffix):
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)
    # ids 3 → 0, 7 → 1 (ascending original ids); rows keep the file's order; cameras as written
    assert summary(dataset) == [('images/p7_a.jpg', 1, 1), ('images/p7_b.jpg', 1, 2),
                                ('images/p3_a.jpg', 0, 1)]
    assert not dataset.test_mode
    assert re.search(r'\| train \|\s+2\s+\|\s+3\s+\|\s+2\s+\|', logged[0])  # ids, images, cams
    # the junk row is counted, so that the table adds up to the file's rows
    assert logged[0].endswith('\njunk images (identity -1) left out: train 1')


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_annotations_test_split_is_query_then_gallery(tmp_path, logged, suffix):
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    dataset = DATASETS.build(dict(type='CustomReIDAnnotations', data_root=str(tmp_path),
                                  ann_file=ann_file, split='test'))
    assert summary(dataset) == [
        ('images/q5.jpg', 5, 1, True), ('images/q9.jpg', 9, 2, True),
        ('images/g5.jpg', 5, 2, False), ('images/g9.jpg', 9, 2, False),
        ('images/g0.jpg', 0, 3, False)]
    assert dataset.test_mode
    assert re.search(r'\|\s+query\s+\|\s+2\s+\|\s+2\s+\|\s+2\s+\|', logged[0])
    assert re.search(r'\|\s+gallery\s+\|\s+3\s+\|\s+3\s+\|\s+2\s+\|', logged[0])
    assert logged[0].endswith('\njunk images (identity -1) left out: gallery 1')


def test_absolute_paths_json_strings_and_extra_columns(tmp_path):
    (tmp_path / 'data').mkdir()
    image, junk = tmp_path / 'elsewhere.jpg', tmp_path / 'junk.jpg'
    image.touch()
    junk.touch()
    lines = [dict(img_path=str(image), person_id='0042', camera_id='3', split='train',
                  note='extra keys are ignored'),
             dict(img_path=str(junk), person_id=-1, camera_id=0, split='train')]
    (tmp_path / 'ann.jsonl').write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    dataset = CustomReIDAnnotations(data_root=str(tmp_path / 'data'),
                                    ann_file=str(tmp_path / 'ann.jsonl'))
    assert len(dataset) == 1
    item = dataset.get_data_info(0)
    assert (item['img_path'], item['gt_label'], item['camera_id']) == (str(image), 0, 3)


def test_data_root_none_is_refused_even_with_absolute_paths(tmp_path):
    """mmengine's default data_root=None: a sentence saying to set it, not a TypeError from
    a stat of None; every path in the file and ann_file itself are absolute."""
    image = tmp_path / 'elsewhere.jpg'
    image.touch()
    (tmp_path / 'ann.csv').write_text(f'{HEADER}\n{image},1,1,train\n')
    with pytest.raises(ConfigError, match=r"CustomReIDAnnotations: data_root is None; set "
                                          r"data_root to the dataset's folder, which a "
                                          r'relative img_path or ann_file starts from \(set it '
                                          r'even when every path is absolute\)$'):
        CustomReIDAnnotations(data_root=None, ann_file=str(tmp_path / 'ann.csv'))
    with pytest.raises(ConfigError, match=r"CustomReIDFolders: data_root is None; set "
                                          r"data_root to the dataset's folder$"):
        DATASETS.build(dict(type='CustomReIDFolders', data_root=None))


@pytest.mark.parametrize('blank', ['   ', '\t', ',,,', ' , ,\t, ', ',,,,,', ' ,,,,, '],
                         ids=['spaces', 'tab', 'commas', 'spaced-commas', 'extra-cells',
                              'spaced-extra-cells'])
def test_csv_rows_of_blank_cells_are_skipped_as_empty_lines_are(tmp_path, blank):
    """A line of spaces or a spreadsheet's cleared row (``,,,``), even with cells beyond
    the header, is skipped like an empty line; a bad row after it keeps its line number."""
    write_annotations(tmp_path, ROWS)
    lines = (tmp_path / 'annotations.csv').read_text().splitlines()
    lines[3:3] = [blank, '', blank]
    (tmp_path / 'blank.csv').write_text('\n'.join(lines) + '\n')
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file='blank.csv')
    expected = CustomReIDAnnotations(data_root=str(tmp_path), ann_file='annotations.csv')
    assert summary(dataset) == summary(expected)
    (tmp_path / 'bad.csv').write_text('\n'.join(lines + ['images/x.jpg,4,,train']) + '\n')
    with pytest.raises(DatasetError, match=rf'line {len(lines) + 1} of .*bad\.csv has no '
                                           r'camera_id'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='bad.csv')


def test_a_csv_row_with_only_an_extra_column_is_not_blank(tmp_path):
    """Something written beyond the header's columns: the row is not blank, and its missing
    fields are named."""
    write_annotations(tmp_path, ROWS)
    lines = (tmp_path / 'annotations.csv').read_text().splitlines() + [',,,,note']
    (tmp_path / 'extra.csv').write_text('\n'.join(lines) + '\n')
    with pytest.raises(DatasetError, match=r'line 12 of .*extra\.csv has no img_path, '
                                           r'person_id, camera_id, split'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='extra.csv')


def test_a_bad_csv_row_is_named_by_its_first_line_across_empty_lines_and_a_quoted_break(
        tmp_path):
    """csv's reader counts the lines read so far: the last line of a row whose quoted cell
    spans two lines, after empty lines that it skips."""
    write_annotations(tmp_path, ROWS)
    lines = (tmp_path / 'annotations.csv').read_text().splitlines()
    text = '\n'.join(lines[:3] + ['', '', '"images/a\nb.jpg",2.5,1,train'] + lines[3:]) + '\n'
    (tmp_path / 'quoted.csv').write_text(text)
    with pytest.raises(DatasetError, match=r"person_id '2\.5' on line 6 of .*quoted\.csv"):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='quoted.csv')


def bad_row_error(tmp_path, rows, error_type, suffix='.csv', split='train', images=True):
    """The message of the error, exactly of ``error_type``, that reading ``rows`` raises:
    a :class:`DatasetError` for a bad row or split, a ``FileNotFoundError`` for a row whose
    image does not exist."""
    ann_file = write_annotations(tmp_path, rows, suffix, images)
    missing = tmp_path / 'images' / 'absent.jpg'
    if missing.exists():
        missing.unlink()
    with pytest.raises(error_type) as error:
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split=split)
    assert type(error.value) is error_type
    return str(error.value)


# the bad row is the 4th data row: line 5 of the CSV (after the header), line 4 of JSON lines
@pytest.mark.parametrize('suffix, line', [('.csv', 5), ('.jsonl', 4)])
@pytest.mark.parametrize('bad_row, error_type, message', [
    (('images/x.jpg', 4, '', 'train'), DatasetError,
     r'line {line} of .*annotations{suffix} has no camera_id; every row gives img_path, '
     r'person_id'),
    (('images/x.jpg', '3.0', 1, 'train'), DatasetError,
     r"person_id '3\.0' on line {line} of .*annotations{suffix} is not an integer; .*: a "
     r"float one is refused rather than truncated$"),
    (('images/x.jpg', 4, 'c1', 'train'), DatasetError,
     r"camera_id 'c1' on line {line} of .* is not an integer; identities and cameras are "
     r"whole numbers \(person_id -1 for junk\): write 1 for 'c1' \(its first digits\), or "
     r"number them$"),
    (('images/x.jpg', 'p001', 1, 'train'), DatasetError,
     r"person_id 'p001' on line {line} of .*: write 001 for 'p001' \(its first digits\)"),
    (('images/x.jpg', 'alice', 1, 'train'), DatasetError,
     r"person_id 'alice' on line {line} of .*: number them 0, 1, 2, \.\.\.$"),
    (('images/x.jpg', 4, 1, 'val'), DatasetError,
     r"split 'val' on line {line} of .*annotations{suffix} is not one of train, query, "
     r"gallery; a re-ID test is split in two: write query for the images searched for and "
     r"gallery for the images searched among$"),
    (('images/x.jpg', 4, 1, 'Test'), DatasetError,
     r"split 'Test' on line {line} of .*; a re-ID test is split in two: write query"),
    (('images/x.jpg', 4, 1, 'TRAIN'), DatasetError,
     r"split 'TRAIN' on line {line} of .*annotations{suffix} is not one of train, query, "
     r"gallery; did you mean 'train'\?$"),
    (('images/x.jpg', 4, 1, 'galery'), DatasetError,
     r"split 'galery' on line {line} of .* did you mean 'gallery'\?$"),
    (('images/x.jpg', 4, 1, 'Query'), DatasetError,
     r"split 'Query' on line {line} of .*annotations{suffix} is not one of train, query, "
     r"gallery; did you mean 'query'\?$"),
    (('images/absent.jpg', 4, 1, 'gallery'), FileNotFoundError,
     r'the image .*images.absent\.jpg on line {line} of .*annotations{suffix} does not '
     r'exist'),
    (('images/p7_a.jpg', 7, 3, 'gallery'), DatasetError,
     r'line {line} of .*annotations{suffix} lists images/p7_a\.jpg again, first on line '
     r'{first} in the train and gallery splits, where the test would score an image the '
     r'model trained on; each image has one row'),
    (('images', 4, 1, 'train'), DatasetError,
     r'img_path images on line {line} of .*annotations{suffix} is the folder .*images; each '
     r'row names one image file'),
    (('images/x.jpg', -2, 1, 'train'), DatasetError,
     r'person_id -2 on line {line} of .*annotations{suffix} is negative; identities are 0 or '
     r'more \(0 for distractors\), and -1 marks junk'),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path, suffix, line, bad_row, error_type,
                                             message):
    """Whatever the split asked for: the bad row is a query, gallery or train row."""
    rows = ROWS[:3] + [bad_row] + ROWS[3:]
    expected = message.format(line=line, suffix=re.escape(suffix), first=line - 3)
    assert re.search(expected, bad_row_error(tmp_path, rows, error_type, suffix,
                                             split='query'))


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_a_row_of_a_file_listed_before_through_a_link_is_named(tmp_path, suffix):
    """A link to another row's image would put one picture under two identities."""
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    os.symlink('p7_a.jpg', tmp_path / 'images/link.jpg')
    with open(tmp_path / ann_file, 'a') as rows:
        rows.write('images/link.jpg,3,2,train\n' if suffix == '.csv' else json.dumps(dict(
            img_path='images/link.jpg', person_id=3, camera_id=2, split='train')) + '\n')
    with pytest.raises(DatasetError, match=(
            rf'line {len(ROWS) + (2 if suffix == ".csv" else 1)} of .*annotations{suffix} '
            rf'lists images/link\.jpg \(the file of .*images.p7_a\.jpg, through a symbolic or '
            rf'hard link\), first on line {2 if suffix == ".csv" else 1}; each image has one '
            rf'row')):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)


@pytest.mark.parametrize('split', ['train', 'test'])
@pytest.mark.parametrize('link_split, first_line, clause', [
    ('train', 2, ''),
    ('gallery', 6, ' in the query and gallery splits, where a query would match itself and '
                   'raise Rank-1 and mAP'),
], ids=['one-split', 'query-gallery'])
def test_a_row_of_a_file_listed_before_through_a_hard_link_is_named(tmp_path, split,
                                                                    link_split, first_line,
                                                                    clause):
    """A hard link shares the file's device and inode, not its real path: a gallery row
    that is a query's file would let the query match itself; in one split, one picture
    would count under two identities. The whole file is checked, whatever split loads."""
    first = {'train': 'images/p7_a.jpg', 'gallery': 'images/q5.jpg'}[link_split]
    linked = ('images/hard.jpg', 3 if link_split == 'train' else 5, 2, link_split)
    ann_file = write_annotations(tmp_path, ROWS)
    os.link(tmp_path / first, tmp_path / 'images/hard.jpg')
    with open(tmp_path / ann_file, 'a') as rows:
        rows.write(','.join(map(str, linked)) + '\n')
    with pytest.raises(DatasetError) as error:
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split=split)
    assert str(error.value) == (
        f'CustomReIDAnnotations: line {len(ROWS) + 2} of {tmp_path / ann_file} lists '
        f'images/hard.jpg (the file of {tmp_path / first}, through a symbolic or hard link), '
        f'first on line {first_line}{clause}; each image has one row')


@pytest.mark.parametrize('separator, name', [(';', 'semicolon'), ('\t', 'tab')])
def test_a_header_split_at_another_separator_is_named(tmp_path, separator, name):
    """Excel in a locale with a decimal comma writes ';', a TSV export tabs: the header
    is shown as read, and the separator named."""
    (tmp_path / 'a.jpg').touch()
    header = separator.join(HEADER.split(','))
    (tmp_path / 'ann.csv').write_text(f'{header}\na.jpg{separator}1{separator}1'
                                      f'{separator}train\n')
    with pytest.raises(DatasetError) as error:
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='ann.csv')
    assert str(error.value) == (
        f'CustomReIDAnnotations: the header on line 1 of {tmp_path / "ann.csv"} lacks '
        f'img_path, person_id, camera_id, split (the line reads {header!r}); the file looks '
        f'{name} separated, but the reader expects commas: save it comma separated, with the '
        f'first line {HEADER}')


def test_a_long_header_is_shown_cut(tmp_path):
    (tmp_path / 'ann.csv').write_text('x' * 500 + '\n')
    with pytest.raises(DatasetError, match=rf"\(the line reads '{'x' * 120}\.\.\.'\); the "
                                           r'first line names the columns'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='ann.csv')


def test_json_float_identity_is_refused(tmp_path):
    (tmp_path / 'a.jpg').touch()
    (tmp_path / 'ann.jsonl').write_text(
        '{"img_path": "a.jpg", "person_id": 3.0, "camera_id": 1, "split": "train"}\n')
    with pytest.raises(ValueError, match=r'person_id 3\.0 on line 1 of .*ann\.jsonl is not an '
                                         r'integer'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='ann.jsonl')


def test_file_level_errors(tmp_path):
    write_annotations(tmp_path, ROWS)
    (tmp_path / 'no_split.csv').write_text('img_path,person_id,camera_id\nimages/q5.jpg,5,1\n')
    with pytest.raises(ValueError, match=r'the header on line 1 of .*no_split\.csv lacks '
                                         r"split \(the line reads 'img_path,person_id,"
                                         r"camera_id'\); the first line names the columns, "
                                         r'e\.g\. img_path,person_id,camera_id,split$'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='no_split.csv')
    (tmp_path / 'broken.jsonl').write_text('{"img_path": "images/q5.jpg"}\n{"img_path": \n')
    with pytest.raises(ValueError, match=r'line 1 of .*broken\.jsonl has no person_id, '
                                         r'camera_id, split'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='broken.jsonl')
    (tmp_path / 'broken.jsonl').write_text('\n{"img_path": \n')
    with pytest.raises(ValueError, match=r'line 2 of .*broken\.jsonl is not valid JSON'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='broken.jsonl')
    (tmp_path / 'ann.txt').write_text(HEADER + '\n')
    with pytest.raises(ValueError, match=r'cannot tell the format of .*ann\.txt'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='ann.txt')
    with pytest.raises(FileNotFoundError, match=r'CustomReIDAnnotations: .*nothing\.csv not '
                                                r'found; expected rows of the splits'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='nothing.csv')


def test_an_ann_file_given_from_the_working_folder_is_named_with_both_fixes(tmp_path,
                                                                          monkeypatch):
    """ann_file='my_reid/annotations.csv' beside data_root='my_reid': mmengine reads
    my_reid/my_reid/annotations.csv."""
    write_annotations(tmp_path / 'my_reid', ROWS)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match='^' + re.escape(
            f'CustomReIDAnnotations: ann_file my_reid/my_reid/annotations.csv not found: a '
            f'relative ann_file is read from data_root (my_reid), but my_reid/annotations.csv '
            f'is a file of the working folder {tmp_path}; give ann_file=annotations.csv or the '
            f'absolute path {tmp_path}/my_reid/annotations.csv') + '$'):
        CustomReIDAnnotations(data_root='my_reid', ann_file='my_reid/annotations.csv')


def test_queries_absent_from_the_gallery_are_counted_and_named(tmp_path):
    rows = ROWS + [('images/q11.jpg', 11, 1, 'query'), ('images/q12.jpg', 12, 1, 'query'),
                   ('images/q12b.jpg', 12, 2, 'query')]
    message = bad_row_error(tmp_path, rows, DatasetError, split='test')
    assert re.search(r'CustomReIDAnnotations: 2 query identities have no gallery image at all '
                     r'\(11, 12\) in .*annotations\.csv', message)
    one = bad_row_error(tmp_path, ROWS + [('images/q11.jpg', 11, 1, 'query')], DatasetError,
                        split='test')
    assert '1 query identity has no gallery image at all (11)' in one


def test_an_empty_split_is_an_error(tmp_path):
    rows = [row for row in ROWS if row[3] != 'query']
    assert re.search(r'CustomReIDAnnotations: the query split under .* has no images; '
                     r'expected rows of the splits train, query and gallery in '
                     r'.*annotations\.csv', bad_row_error(tmp_path, rows, DatasetError,
                                                          split='test'))
    junk_only = [row for row in ROWS if row[3] != 'train'] + [ROWS[3]]
    assert re.search(r'the train split under .* holds junk only \(1 image of identity -1, '
                     r'left out\); give it images of real identities$',
                     bad_row_error(tmp_path, junk_only, DatasetError))


# the file's encoding: UTF-8, with or without the byte-order mark Excel's "CSV UTF-8" writes
CAFE = ('images/café_c2.jpg', 3, 2, 'train')


def reencode(path: Path, encoding: str, bom: bytes = b'') -> None:
    """Rewrite the UTF-8 text file ``path`` in ``encoding``, after ``bom``."""
    path.write_bytes(bom + path.read_text(encoding='utf-8').encode(encoding))


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_a_utf8_byte_order_mark_is_accepted(tmp_path, suffix):
    ann_file = write_annotations(tmp_path, ROWS + [CAFE], suffix)
    reencode(tmp_path / ann_file, 'utf-8', codecs.BOM_UTF8)
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)
    assert summary(dataset)[-1] == ('images/café_c2.jpg', 0, 2)


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
@pytest.mark.parametrize('bom, encoding', [(codecs.BOM_UTF16_LE, 'utf-16-le'),
                                           (codecs.BOM_UTF16_BE, 'utf-16-be')],
                         ids=['utf-16-le', 'utf-16-be'])
def test_a_utf16_file_is_named_with_the_fix(tmp_path, suffix, bom, encoding):
    """As Excel's "Unicode Text" and Windows PowerShell's > write it: a byte-order mark."""
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    reencode(tmp_path / ann_file, encoding, bom)
    with pytest.raises(DatasetError, match=rf'CustomReIDAnnotations: .*annotations'
                                           rf'{re.escape(suffix)} is UTF-16 \(it starts with a '
                                           rf'UTF-16 byte-order mark.*; save it as UTF-8'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)


def test_a_cp1252_file_is_named_by_file_and_line(tmp_path):
    """Excel's plain CSV on Western Windows: é is the single byte 0xe9, on line 4."""
    ann_file = write_annotations(tmp_path, ROWS[:2] + [CAFE] + ROWS[2:])
    reencode(tmp_path / ann_file, 'cp1252')
    with pytest.raises(DatasetError, match=r'CustomReIDAnnotations: line 4 of '
                                           r'.*annotations\.csv is not UTF-8 \(byte 0xe9, .*'
                                           r'cp1252.*\); save the file as UTF-8'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)


# paths written on Windows
def windows_rows(rows):
    return [(path.replace('/', '\\'), *labels) for path, *labels in rows]


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
@pytest.mark.parametrize('split', ['train', 'test'])
def test_backslashes_separate_folders(tmp_path, suffix, split):
    """``images\\p7_a.jpg`` is ``images/p7_a.jpg`` on every system."""
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    expected = summary(CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file,
                                             split=split))
    write_annotations(tmp_path, windows_rows(ROWS), suffix, images=False)
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split=split)
    assert summary(dataset) == expected


def test_one_image_written_with_either_separator_is_listed_twice(tmp_path):
    write_annotations(tmp_path, ROWS)
    message = bad_row_error(tmp_path, ROWS + windows_rows(ROWS[:1]), DatasetError,
                            images=False)
    assert re.search(r'line 12 of .*annotations\.csv lists images\\p7_a\.jpg again, first on '
                     r'line 2;', message)


@pytest.mark.skipif(os.name == 'nt', reason='a drive letter is an absolute path on Windows')
def test_a_windows_absolute_path_is_named_as_such(tmp_path):
    write_annotations(tmp_path, ROWS)
    rows = ROWS[:1] + [('C:\\data\\my_reid\\images\\p3_a.jpg', 3, 1, 'train')] + ROWS[1:]
    message = bad_row_error(tmp_path, rows, FileNotFoundError, images=False)
    assert re.search(r'the image C:\\data\\my_reid\\images\\p3_a\.jpg on line 3 of '
                     r'.*annotations\.csv does not exist \(it is a Windows absolute path; '
                     r'write it relative to ', message)


def test_a_missing_image_hints_at_separators_and_case(tmp_path):
    message = bad_row_error(tmp_path, ROWS + [('images/absent.jpg', 3, 1, 'train')],
                            FileNotFoundError)
    assert re.search(r'the image .*images.absent\.jpg on line 12 of .*annotations\.csv does '
                     r'not exist \(relative paths start at .*, with / or \\ between folders; '
                     r'check the name, its case included\)', message)


def test_a_missing_absolute_image_path_gets_no_note_on_relative_ones(tmp_path):
    absent = str(tmp_path / 'images' / 'absent.jpg')  # written absolute, then removed
    message = bad_row_error(tmp_path, ROWS + [(absent, 3, 1, 'train')], FileNotFoundError)
    assert message.endswith(f'the image {absent} on line 12 of '
                            f'{tmp_path / "annotations.csv"} does not exist (check the name, '
                            f'its case included)')


# JSON lines, not a JSON document
@pytest.mark.parametrize('indent', [2, None])
def test_a_json_array_is_refused_as_such(tmp_path, indent):
    """An ordinary .json file: one array of objects, indented or on one line."""
    write_annotations(tmp_path, ROWS, '.json')
    records = [dict(zip(HEADER.split(','), row)) for row in ROWS]
    (tmp_path / 'annotations.json').write_text(json.dumps(records, indent=indent) + '\n')
    with pytest.raises(DatasetError, match=r'line 1 of .*annotations\.json holds a JSON array, '
                                           r'but \.json and \.jsonl annotation files are read '
                                           r'as JSON lines; write one object per line'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='annotations.json')


def test_a_broken_json_line_gives_the_reason_and_column(tmp_path):
    """A tab inside a string: json's message ends in a cut-off 'at' on its own."""
    write_annotations(tmp_path, ROWS, '.jsonl')
    (tmp_path / 'broken.jsonl').write_text(
        '\n{"img_path": "images/p7\t_a.jpg", "person_id": 7, "camera_id": 1, '
        '"split": "train"}\n')
    with pytest.raises(DatasetError, match=r'line 2 of .*broken\.jsonl is not valid JSON '
                                           r'\(Invalid control character at column 24\); '
                                           r'expected one object per line'):
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='broken.jsonl')


@pytest.mark.parametrize('repeated, extra, columns', [
    ('person_id', '5', 'column person_id (columns 2 and 5)'),
    ('split', 'query', 'column split (columns 4 and 5)'),
    ('person_id,split', '5,query', 'columns person_id (columns 2 and 5) and split (columns 4 '
                                   'and 6)'),
], ids=['person_id', 'split', 'both'])
def test_a_csv_header_that_repeats_a_column_is_refused(tmp_path, repeated, extra, columns):
    """csv.DictReader would keep the last of the columns: every identity 5, or every row in
    the query split (the train split then seemingly empty)."""
    write_annotations(tmp_path, ROWS)
    lines = (tmp_path / 'annotations.csv').read_text().splitlines()
    lines = [f'{lines[0]},{repeated}'] + [f'{line},{extra}' for line in lines[1:]]
    (tmp_path / 'annotations.csv').write_text('\n'.join(lines) + '\n')
    with pytest.raises(DatasetError) as error:
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='annotations.csv')
    assert str(error.value) == (
        f'CustomReIDAnnotations: the header on line 1 of {tmp_path / "annotations.csv"} '
        f'repeats the {columns}; keep one column of each name, as the reader would silently '
        f'take the last')


def test_repeats_of_other_csv_columns_and_json_keys_are_ignored(tmp_path):
    """The reader ignores other columns and keys: a repeated note, the unnamed columns of a
    spreadsheet's trailing commas, or a repeat inside a nested object changes nothing."""
    write_annotations(tmp_path, ROWS)
    expected = summary(CustomReIDAnnotations(data_root=str(tmp_path),
                                             ann_file='annotations.csv'))
    lines = (tmp_path / 'annotations.csv').read_text().splitlines()
    (tmp_path / 'notes.csv').write_text('\n'.join(
        [f'{lines[0]},note,note,,'] + [f'{line},a,b,,' for line in lines[1:]]) + '\n')
    records = [json.dumps(dict(zip(HEADER.split(','), row)))[:-1] +
               ', "note": 1, "note": {"a": 1, "a": 2}}' for row in ROWS]
    (tmp_path / 'notes.jsonl').write_text('\n'.join(records) + '\n')
    for ann_file in ('notes.csv', 'notes.jsonl'):
        dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file)
        assert summary(dataset) == expected


@pytest.mark.parametrize('repeats, keys', [
    (', "person_id": 5', 'key person_id'),
    (', "split": "query", "person_id": 5', 'keys person_id and split')],
    ids=['person_id', 'both'])
def test_a_json_line_that_repeats_a_key_is_refused(tmp_path, repeats, keys):
    """json.loads would keep the last value; the line is named."""
    write_annotations(tmp_path, ROWS, '.jsonl')
    lines = (tmp_path / 'annotations.jsonl').read_text().splitlines()
    lines[2] = lines[2][:-1] + repeats + '}'
    (tmp_path / 'annotations.jsonl').write_text('\n'.join(lines) + '\n')
    with pytest.raises(DatasetError) as error:
        CustomReIDAnnotations(data_root=str(tmp_path), ann_file='annotations.jsonl',
                              split='query')
    assert str(error.value) == (
        f'CustomReIDAnnotations: line 3 of {tmp_path / "annotations.jsonl"} repeats the '
        f'{keys}; give each key once, as the reader would silently take the last value')


INT64_RANGE = ('int64 (-9223372036854775808 to 9223372036854775807), the range of identities '
               'and cameras the pipeline carries')


# the bad row is the 4th data row: line 5 of the CSV (after the header), line 4 of JSON lines
@pytest.mark.parametrize('suffix, line', [('.csv', 5), ('.jsonl', 4)])
@pytest.mark.parametrize('person, camera, name, value', [
    ('99999999999999999999', 1, 'person_id', 99999999999999999999),
    (2**63, 1, 'person_id', 2**63),
    (4, 2**63, 'camera_id', 2**63),
    (4, -2**63 - 1, 'camera_id', -2**63 - 1),
], ids=['person-20-digits', 'person-max+1', 'camera-max+1', 'camera-min-1'])
def test_an_identity_or_camera_beyond_int64_is_refused(tmp_path, suffix, line, person, camera,
                                                       name, value):
    """It would load, then overflow in mmpretrain's format_label or the metric's arrays."""
    rows = ROWS[:3] + [('images/x.jpg', person, camera, 'gallery')] + ROWS[3:]
    message = bad_row_error(tmp_path, rows, DatasetError, suffix)
    assert message == (f'CustomReIDAnnotations: {name} {value} on line {line} of '
                       f'{tmp_path / f"annotations{suffix}"} is outside {INT64_RANGE}; number '
                       f'identities and cameras within it')


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_identities_and_cameras_at_the_int64_bounds_load_and_evaluate(tmp_path, suffix):
    """The largest identity and the extreme cameras pass the pipeline's packing and the
    metric, so the bound refuses no id that would work."""
    largest, smallest = 2**63 - 1, -2**63
    rows = [('images/t.jpg', 1, 1, 'train'), ('images/q.jpg', largest, largest, 'query'),
            ('images/g.jpg', largest, smallest, 'gallery'), ('images/g2.jpg', 5, 1, 'gallery')]
    ann_file = write_annotations(tmp_path, rows, suffix)
    dataset = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split='test')
    assert [row[1:3] for row in summary(dataset)] == [(largest, largest), (largest, smallest),
                                                      (5, 1)]
    pack = TRANSFORMS.build(TEST_PIPELINE[-1])
    metric = ReIDMetric()
    metric.dataset_meta = dataset.metainfo
    for index, feature in enumerate(([1.0, 0.0], [1.0, 0.1], [0.0, 1.0])):
        packed = pack(dict(dataset.get_data_info(index), img=np.zeros((4, 2, 3), np.uint8)))
        sample = packed['data_samples']
        sample.set_field(torch.tensor(feature), 'pred_feature')
        metric.process(None, [sample.to_dict()])
    assert metric.evaluate(size=3)['reid/mAP'] == 100.0


# --- folders per person ---------------------------------------------------------------

FOLDERS = ['train/0007/0007_c1_000.jpg', 'train/0007/0007_c2_001.JPG',
           'train/0003/0003_c1_000.png', 'train/0003/Thumbs.db', 'train/-1/junk_c3_000.jpg',
           'query/0005/0005_c1_000.jpg', 'query/0009/0009_c2_000.jpg',
           'gallery/0005/0005_c2_001.jpg', 'gallery/0009/0009_c2_001.jpg',
           'gallery/0000/0000_c3_000.jpg', 'gallery/-1/junk_c1_000.jpg']
CAMERA = r'_c(?P<camera>\d+)_'


def write_folders(root: Path, paths=FOLDERS) -> str:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
    return str(root)


def test_folders_train_with_cameras(tmp_path, logged):
    dataset = CustomReIDFolders(data_root=write_folders(tmp_path), camera_pattern=CAMERA)
    # folders in name order (-1, 0003, 0007); junk dropped; 3 → 0, 7 → 1; any suffix case
    assert summary(dataset) == [('train/0003/0003_c1_000.png', 0, 1),
                                ('train/0007/0007_c1_000.jpg', 1, 1),
                                ('train/0007/0007_c2_001.JPG', 1, 2)]
    assert re.search(r'\| train \|\s+2\s+\|\s+3\s+\|\s+2\s+\|', logged[0])


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_the_test_split_puts_its_cameras_in_the_metainfo(tmp_path, suffix):
    """The sorted cameras of query (1, 2) and gallery (2, 3), and the queries with a gallery
    image of their identity from another camera (5, not 9), for mmengine to hand to the
    metric; other splits add nothing to the metainfo."""
    ann_file = write_annotations(tmp_path, ROWS, suffix)
    test = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split='test')
    assert test.metainfo == dict(cameras=[1, 2, 3], cross_camera_queries=1)
    for split in ('train', 'query', 'gallery'):
        other = CustomReIDAnnotations(data_root=str(tmp_path), ann_file=ann_file, split=split)
        assert 'cameras' not in other.metainfo


def test_folders_test_split_and_camera_zero_without_a_pattern(tmp_path):
    root = write_folders(tmp_path)
    with_cameras = CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='test')
    assert summary(with_cameras) == [
        ('query/0005/0005_c1_000.jpg', 5, 1, True), ('query/0009/0009_c2_000.jpg', 9, 2, True),
        ('gallery/0000/0000_c3_000.jpg', 0, 3, False),
        ('gallery/0005/0005_c2_001.jpg', 5, 2, False),
        ('gallery/0009/0009_c2_001.jpg', 9, 2, False)]
    without = DATASETS.build(dict(type='CustomReIDFolders', data_root=root, split='test'))
    assert [row[:2] + (0, row[3]) for row in summary(with_cameras)] == summary(without)
    assert with_cameras.metainfo['cameras'] == [1, 2, 3]  # query c1, c2; gallery c2, c3
    assert without.metainfo['cameras'] == [0]
    # query 5 (c1) has gallery image c2; query 9 (c2) only c2; without cameras: none
    assert (with_cameras.metainfo['cross_camera_queries'],
            without.metainfo['cross_camera_queries']) == (1, 0)


@pytest.mark.parametrize('extra, split, error, message', [
    (['train/alice/a_c1_0.jpg'], 'train', DatasetError,
     r'the person folder .*train.alice is not named by an integer identity; expected .*: '
     r'rename it by a number$'),
    (['train/p001/a_c1_0.jpg'], 'train', DatasetError,
     r'the person folder .*train.p001 is not named by an integer identity; .*: rename it '
     r'001$'),
    (['train/7/0007_c1_009.jpg'], 'train', DatasetError,
     r'the person folders .*train.0007 and .*train.7 both name identity 7; merge them'),
    (['query/loose_c1_0.jpg'], 'query', DatasetError,
     r'the image .*query.loose_c1_0\.jpg lies directly in .*query; put it in its person'),
    (['gallery/0005/0005.jpg'], 'gallery', DatasetError,
     r"camera_pattern r'_c\(\?P<camera>\\d\+\)_' does not match the file name of "
     r'.*gallery.0005.0005\.jpg'),
    (['query/0011/0011_c1_000.jpg', 'query/0012/0012_c1_000.jpg'], 'test', DatasetError,
     r'CustomReIDFolders: 2 query identities have no gallery image at all \(11, 12\)'),
    (['train/-2/0002_c1_000.jpg'], 'train', DatasetError,
     r'the person folder .*train.-2 names the negative identity -2; identities are 0 or more'),
])
def test_folder_errors_name_the_path(tmp_path, extra, split, error, message):
    root = write_folders(tmp_path, FOLDERS + extra)
    with pytest.raises(error, match=message):
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split=split)


@pytest.mark.parametrize('extra, message', [
    (['gallery/9223372036854775808/x_c1_000.jpg'],
     'the person folder {root}/gallery/9223372036854775808 names the identity '
     '9223372036854775808, outside {range}; rename it with a smaller number'),
    (['gallery/0005/0005_c9223372036854775808_002.jpg'],
     "camera_pattern r'_c(?P<camera>\\d+)_' gives camera 9223372036854775808 in the file name "
     'of {root}/gallery/0005/0005_c9223372036854775808_002.jpg, outside {range}; rename the '
     'file with a smaller camera number'),
], ids=['person', 'camera'])
def test_a_folder_identity_or_camera_beyond_int64_is_refused(tmp_path, extra, message):
    root = write_folders(tmp_path, FOLDERS + extra)
    with pytest.raises(DatasetError) as error:
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='gallery')
    expected = message.format(root=root, range=INT64_RANGE).replace('/', os.sep)
    assert str(error.value) == f'CustomReIDFolders: {expected}'


@pytest.mark.parametrize('link, target', [
    ('train/0099', '0003'), ('train/0007/0007_c1_005.jpg', '../0003/0003_c1_000.png')])
def test_a_person_folder_or_image_that_links_to_another_is_named(tmp_path, link, target):
    """The linked images would count under two identities (or twice under one)."""
    root = write_folders(tmp_path)
    os.symlink(target, tmp_path / link)
    with pytest.raises(DatasetError, match=r'CustomReIDFolders: .*train.00(99|07).* and .*train.'
                                           r'0003.0003_c1_000\.png are the same file \(through '
                                           r'a symbolic or hard link\); each image belongs in '
                                           r'one person folder, once$'):
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='train')


def test_a_hard_link_of_an_image_in_one_split_is_named(tmp_path):
    """A hard link is the same file under another name, with no link to see: compared by
    device and inode, it is refused as a symbolic link is."""
    root = write_folders(tmp_path)
    os.link(tmp_path / 'train/0003/0003_c1_000.png', tmp_path / 'train/0007/0007_c1_005.jpg')
    with pytest.raises(DatasetError) as error:
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='train')
    assert str(error.value) == (
        f'CustomReIDFolders: {tmp_path / "train/0007/0007_c1_005.jpg"} and '
        f'{tmp_path / "train/0003/0003_c1_000.png"} are the same file (through a symbolic or '
        f'hard link); each image belongs in one person folder, once')


QUERY_GALLERY = (' in the query and gallery splits, where a query would match itself and raise '
                 'Rank-1 and mAP')
TRAIN_GALLERY = (' in the train and gallery splits, where the test would score an image the '
                 'model trained on')


@pytest.mark.parametrize('split', ['test', 'query', 'gallery', 'train'])
@pytest.mark.parametrize('link, target, named, clause', [
    (os.symlink, 'query/0009/0009_c2_000.jpg', 'gallery/0009/0009_c1_999999.jpg',
     QUERY_GALLERY),
    (os.link, 'query/0009/0009_c2_000.jpg', 'gallery/0009/0009_c1_999999.jpg', QUERY_GALLERY),
    (os.link, 'train/0007/0007_c1_000.jpg', 'gallery/0007/0007_c1_000.jpg', TRAIN_GALLERY),
    (os.symlink, 'train/0007', 'gallery/0007/0007_c1_000.jpg', TRAIN_GALLERY),
], ids=['symlink-query-gallery', 'hard-link-query-gallery', 'hard-link-train-gallery',
        'person-folder-symlink-train-gallery'])
def test_one_file_under_two_splits_is_named_whatever_split_loads(tmp_path, split, link,
                                                                  target, named, clause):
    """docs/reid.md, "Train on your own data": a query image that is also a gallery file
    would match itself and raise Rank-1 and mAP, a train image in the gallery be scored
    after training on it; like an annotation file, read whole, every split folder is
    compared whatever split is loaded. The link is the absolute path of the file, or of its
    person folder (gallery/0007 → train/0007)."""
    root = write_folders(tmp_path)
    source = tmp_path / (named if target.endswith('.jpg') else 'gallery/0007')
    source.parent.mkdir(parents=True, exist_ok=True)
    link(tmp_path / target, source)
    with pytest.raises(DatasetError) as error:
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split=split)
    first = target if target.endswith('.jpg') else 'train/0007/0007_c1_000.jpg'
    assert str(error.value) == (
        f'CustomReIDFolders: {tmp_path / named} and {tmp_path / first} are the same file '
        f'(through a symbolic or hard link){clause}; each image belongs in one person folder, '
        f'once')


def test_copies_and_links_out_of_the_tree_load_with_the_same_counts(tmp_path):
    """Only one file under two paths is refused: a copy of a query image in the gallery
    (another file, under the same name), an image linked from storage outside data_root,
    and a tree with a train split alone load with their usual items."""
    root = write_folders(tmp_path / 'data')
    (tmp_path / 'storage').mkdir()
    (tmp_path / 'storage/0005_c3_002.jpg').touch()
    os.symlink(tmp_path / 'storage/0005_c3_002.jpg', tmp_path / 'data/gallery/0005/0005_c3_002.jpg')
    (tmp_path / 'data/gallery/0009/0009_c2_000.jpg').write_bytes(
        (tmp_path / 'data/query/0009/0009_c2_000.jpg').read_bytes())
    test = CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='test')
    assert [row[0] for row in summary(test)] == [
        'query/0005/0005_c1_000.jpg', 'query/0009/0009_c2_000.jpg',
        'gallery/0000/0000_c3_000.jpg', 'gallery/0005/0005_c2_001.jpg',
        'gallery/0005/0005_c3_002.jpg', 'gallery/0009/0009_c2_000.jpg',
        'gallery/0009/0009_c2_001.jpg']
    train = CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split='train')
    train_alone = CustomReIDFolders(
        data_root=write_folders(tmp_path / 'train-only',
                                [path for path in FOLDERS if path.startswith('train/')]),
        camera_pattern=CAMERA, split='train')
    assert summary(train) == summary(train_alone) == [('train/0003/0003_c1_000.png', 0, 1),
                                                      ('train/0007/0007_c1_000.jpg', 1, 1),
                                                      ('train/0007/0007_c2_001.JPG', 1, 2)]


def test_folder_layout_errors(tmp_path, market_root):
    with pytest.raises(ValueError, match=r'camera_pattern .* has no group named camera') as bad:
        CustomReIDFolders(data_root=str(tmp_path), camera_pattern=r'c(\d+)')
    assert not isinstance(bad.value, DatasetError)  # an argument, not the data, is wrong
    root = write_folders(tmp_path / 'custom', [p for p in FOLDERS if p.startswith('train')])
    with pytest.raises(FileNotFoundError, match=r'CustomReIDFolders: .*custom.query not found; '
                                                r'expected train/, query/ and gallery/ under '
                                                r'data_root'):
        CustomReIDFolders(data_root=root, split='query')
    os.makedirs(osp.join(root, 'query', '-1'))  # only a junk person: no image kept
    (Path(root) / 'query' / '-1' / 'junk_c1_000.jpg').touch()
    with pytest.raises(DatasetError, match=r'CustomReIDFolders: the query split under .* '
                                           r'holds junk only \(1 image of identity -1'):
        CustomReIDFolders(data_root=root, split='query')
    # each layout recognised when given to the other dataset
    with pytest.raises(FileNotFoundError, match='holds the Market-1501 layout, use Market1501'):
        CustomReIDFolders(data_root=market_root)
    os.makedirs(osp.join(root, 'gallery'))
    with pytest.raises(FileNotFoundError, match='holds the CustomReIDFolders layout, use '
                                                'CustomReIDFolders for it'):
        Market1501(data_root=root)


@pytest.mark.parametrize('split', ['train', 'test'])
@pytest.mark.parametrize('person, inside, message', [
    ('train/0011', ['cam1/0011_c1_000.jpg', 'cam2/0011_c2_000.jpg'],
     r'train.0011 holds no image directly, only the subfolders cam1, cam2, which are not '
     r'read; move their images up into .*train.0011 \(camera_pattern reads'),
    ('gallery/0013', ['c1/0013_c1_009.jpg', '.ipynb_checkpoints/x.jpg', 'notes.txt'],
     r'gallery.0013 holds no image directly, only the subfolders c1, which are not read'),
    ('gallery/0012', ['0012_c1_000.svg', 'Thumbs.db'],
     r'gallery.0012 holds no image \(a file ending in \.jpg, \.jpeg, .*\); put the '
     r"person's images directly in it, or remove it$"),
    ('query/-1', [], r'query.-1 holds no image \(a file ending in'),
], ids=['per-camera-subfolders', 'subfolder-beside-other-files', 'no-image-file', 'empty'])
def test_a_person_folder_without_an_image_is_named(tmp_path, split, person, inside, message):
    """Images in per-camera subfolders (or none at all) would silently drop the identity;
    the split that holds the folder refuses it, whichever split is asked for."""
    root = write_folders(tmp_path, FOLDERS + [f'{person}/{path}' for path in inside])
    os.makedirs(tmp_path / person, exist_ok=True)
    loads_it = split == 'train' if person.startswith('train') else split == 'test'
    if not loads_it:  # the other split's folders, as FOLDERS lays them out, all read
        dataset = CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split=split)
        labels = {dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))}
        if split == 'train':  # 0003 (one image), 0007 (two), relabelled 0, 1; junk dropped
            assert len(dataset) == 3 and labels == {0, 1}
        else:  # queries 0005, 0009; gallery 0000, 0005, 0009; junk dropped
            assert len(dataset) == 5 and labels == {0, 5, 9}
            assert sum(dataset.get_data_info(i)['is_query'] for i in range(5)) == 2
        return
    with pytest.raises(DatasetError, match=r'CustomReIDFolders: the person folder .*' +
                                           message):
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, split=split)


def test_many_subfolders_are_counted_past_the_first_five(tmp_path):
    root = write_folders(tmp_path, FOLDERS + [f'train/0011/cam{n}/0011_c{n}_0.jpg'
                                              for n in range(1, 8)])
    with pytest.raises(DatasetError, match=r'only the subfolders cam1, cam2, cam3, cam4, cam5 '
                                           r'and 2 more, which'):
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA)


# hidden entries and OS metadata: what macOS (AppleDouble ``._`` files beside each image,
# ``.DS_Store``, an archive's ``__MACOSX`` folder) and Jupyter leave in a tree
METADATA = ['__MACOSX/train/0007/._0007_c1_000.jpg', 'train/.DS_Store',
            'train/._0007', 'train/.ipynb_checkpoints/notes-checkpoint.ipynb',
            'train/__MACOSX/0007/._0007_c1_000.jpg', 'train/0007/._0007_c1_000.jpg',
            'train/0003/._0003_c1_000.png', 'query/._loose_c1_0.jpg',
            'query/0005/._0005_c1_000.jpg', 'gallery/0009/.hidden_c2_000.jpg']


@pytest.mark.parametrize('split', ['train', 'test'])
def test_folders_skip_hidden_entries_and_os_metadata(tmp_path, split):
    clean = CustomReIDFolders(data_root=write_folders(tmp_path / 'clean'),
                              camera_pattern=CAMERA, split=split)
    dataset = CustomReIDFolders(data_root=write_folders(tmp_path / 'mac', FOLDERS + METADATA),
                                camera_pattern=CAMERA, split=split)
    assert summary(dataset) == summary(clean)
    assert CustomReIDFolders.holds_layout(str(tmp_path / 'mac'))


@pytest.mark.parametrize('suffixes, refused', [
    ('.jpg', None), ([], None), (['jpg'], 'jpg'), (['.jpg', '.'], '.'), ([3], 3),
    (['.tar.gz'], '.tar.gz'), (['./jpg'], './jpg')])
def test_suffixes_other_than_a_list_of_dotted_endings_are_refused(tmp_path, suffixes,
                                                                  refused):
    """A string would be read as its characters (``.``, ``j``, ``p``, ``g``: every file an
    image), a suffix without its dot would match ``xjpg`` too."""
    root = write_folders(tmp_path)
    if refused is None:
        message = (f'CustomReIDFolders: suffixes must be a non-empty list of file name '
                   f"suffixes (e.g. suffixes=['.jpg', '.png']), got {suffixes!r}")
    else:
        message = (f"CustomReIDFolders: every suffix is a dot and a file name ending (e.g. "
                   f"suffixes=['.jpg', '.png']), got {refused!r} in suffixes={suffixes!r}")
    with pytest.raises(ConfigError) as error:
        CustomReIDFolders(data_root=root, camera_pattern=CAMERA, suffixes=suffixes)
    assert str(error.value) == message
    upper = CustomReIDFolders(data_root=root, camera_pattern=CAMERA,
                              suffixes=('.JPG', '.Png'))
    assert summary(upper) == [('train/0003/0003_c1_000.png', 0, 1),
                              ('train/0007/0007_c1_000.jpg', 1, 1),
                              ('train/0007/0007_c2_001.JPG', 1, 2)]


def test_a_split_folder_holding_a_folder_of_its_own_name_is_told_to_move_it_up(tmp_path):
    """train/train/0007/...: unpacked one folder too deep, not a person folder to rename."""
    root = Path(write_folders(tmp_path / 'data'))
    (root / 'train').rename(tmp_path / 'train')
    (root / 'train').mkdir()
    (tmp_path / 'train').rename(root / 'train' / 'train')
    with pytest.raises(DatasetError) as error:
        CustomReIDFolders(data_root=str(root), camera_pattern=CAMERA)
    train = root / 'train'
    assert str(error.value) == (
        f'CustomReIDFolders: {train} holds a folder of its own name, {train / "train"} '
        f'(unpacked one folder too deep?); the person folders lie directly in {train}: move '
        f'the content of {train / "train"} up into {train}')


def test_a_split_folder_named_in_another_case_is_told_to_be_renamed(tmp_path):
    root = Path(write_folders(tmp_path / 'data'))
    (root / 'query').rename(root / 'Query')
    with pytest.raises(DatasetError) as error:
        CustomReIDFolders(data_root=str(root), camera_pattern=CAMERA, split='test')
    assert str(error.value) == (f'CustomReIDFolders: {root / "query"} not found, but '
                                f'{root / "Query"} is there; split folders are named in lower '
                                f'case: rename it query')


def test_a_file_name_that_is_no_utf8_is_passed_over(tmp_path):
    """A notes file named in GBK, as unzip leaves one from a Windows archive, beside the
    images of a person folder: the split loads as without it (OpenCV, asked whether such a
    path is an image, crashes the process: the load runs in a child to see that)."""
    root = write_folders(tmp_path / 'data')
    name = '说明.txt'.encode('gbk')
    with open(os.fsencode(root) + b'/train/0007/' + name, 'wb') as notes:
        notes.write(b'notes')
    load = ('from rga_mm.datasets import CustomReIDFolders; '
            f'print(len(CustomReIDFolders(data_root={root!r}, camera_pattern={CAMERA!r})))')
    result = subprocess.run([sys.executable, '-c', load], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == '3'


# --- the same images through Market1501 and both custom layouts -----------------------

def as_annotations(market: Path, root: Path) -> str:
    """A CSV listing the Market-1501 images in place (absolute paths)."""
    lines = [HEADER]
    for split, folder in MARKET_SPLITS.items():
        for path in sorted((market / folder).glob('*.jpg')):
            match = MARKET_NAME.match(path.name)
            lines.append(f'{path},{int(match["identity"])},{match["camera"]},{split}')
    root.mkdir(parents=True, exist_ok=True)
    (root / 'annotations.csv').write_text('\n'.join(lines) + '\n')
    return str(root)


def identities_and_cameras(dataset, camera_offset=0):
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    return sorted((osp.basename(item['img_path']), item['gt_label'],
                   item['camera_id'] + camera_offset, item.get('is_query')) for item in items)


@pytest.mark.parametrize('split', ['train', 'test'])
def test_both_layouts_give_market1501s_items(tiny_market, tmp_path, split):
    """The tiny synthetic Market-1501 rewritten in each layout gives Market1501's items:
    same identities (relabelled alike), same cameras (written 1-based, Market1501's 0-based)."""
    market = Market1501(data_root=str(tiny_market), split=split)
    annotations = CustomReIDAnnotations(
        data_root=as_annotations(tiny_market, tmp_path / 'ann'), ann_file='annotations.csv',
        split=split)
    folders = CustomReIDFolders(data_root=market_as_folders(tiny_market, tmp_path / 'folders'),
                                camera_pattern=r'_c(?P<camera>\d)s', split=split)
    expected = identities_and_cameras(market, camera_offset=1)
    assert len(expected) > 10
    assert identities_and_cameras(annotations) == expected
    assert identities_and_cameras(folders) == expected


# --- the configs ----------------------------------------------------------------------

def without_dataset(config_path: Path) -> dict:
    """The config as a dict, its datasets reduced to split and pipeline, no num_classes."""
    config = Config.fromfile(config_path).to_dict()
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        config[loader]['dataset'] = {key: config[loader]['dataset'][key]
                                     for key in ('split', 'pipeline')}
    del config['reid_dataset'], config['model']['head']['num_classes']
    return config


@pytest.mark.parametrize('name, dataset_type', [('annotations', 'CustomReIDAnnotations'),
                                                ('folders', 'CustomReIDFolders')])
def test_config_changes_only_the_dataset_of_the_market_config(name, dataset_type):
    cfg = Config.fromfile(CONFIGS[name])
    assert {cfg[loader].dataset.type for loader in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')} == {dataset_type}
    assert without_dataset(CONFIGS[name]) == without_dataset(MARKET_CONFIG)


@pytest.mark.parametrize('name', ['annotations', 'folders'])
def test_config_datasets_load_the_layout(tmp_path, name):
    """The config's dataset dicts, pointed at a tiny tree, load it (the folders config's
    camera_pattern reads c3 as 3)."""
    cfg = Config.fromfile(CONFIGS[name])
    if name == 'annotations':
        root = str(tmp_path)
        write_annotations(tmp_path, ROWS)
    else:
        root = write_folders(tmp_path)
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root))
    test = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=root))
    assert len(train) == 3 and len(test) == 5
    assert {test.get_data_info(i)['camera_id'] for i in range(len(test))} == {1, 2, 3}


def annotations_demo_config(path: Path, data_root: str) -> Path:
    """The demo config (its small network: the 256×128 ResNet-50 would be slow) with the
    dataset of its three data loaders swapped for CustomReIDAnnotations on ``data_root``."""
    dataset = (f"dict(type='CustomReIDAnnotations', data_root={data_root!r}, "
               f"ann_file='annotations.csv')")
    path.write_text(f"_base_ = [{str(DEMO_CONFIG)!r}]\n"
                    f"train_dataloader = dict(dataset={dataset})\n"
                    f"val_dataloader = dict(dataset={dataset})\n"
                    f"test_dataloader = val_dataloader\n")
    return path


@pytest.mark.slow
def test_one_epoch_through_tools_train(tiny_market, tmp_path):
    """tools/train.py trains and evaluates on an annotation file."""
    data_root = as_annotations(tiny_market, tmp_path / 'data')
    config = annotations_demo_config(tmp_path / 'custom_demo.py', data_root)
    work_dir = tmp_path / 'work'
    train = load_script(ROOT / 'tools/train.py', 'train_tool')
    train.main([  # in this process: the claim is the dataset's, not the interpreter's
        str(config), '--work-dir', str(work_dir),
        '--cfg-options', 'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'model.head.num_classes=8',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'custom_hooks=[]'])
    assert (work_dir / 'epoch_1.pth').is_file()
    [log] = work_dir.glob('*/*.log')
    assert 'CustomReIDAnnotations' in log.read_text()  # its statistics table
    [scalars] = work_dir.glob('*/vis_data/scalars.json')
    evaluation = [json.loads(line) for line in scalars.read_text().splitlines()
                  if 'reid/mAP' in line]
    assert evaluation[-1]['reid/num_query'] == len(list((tiny_market / 'query').glob('*.jpg')))


@pytest.mark.slow
def test_a_train_split_alone_trains_without_validation(tiny_market, tmp_path):
    """An annotation file of train rows only, with the options docs/reid.md gives for it
    ("Training without a test split"): the run trains and saves, and evaluates nothing."""
    data_root = Path(as_annotations(tiny_market, tmp_path / 'data'))
    rows = (data_root / 'annotations.csv').read_text().splitlines()
    (data_root / 'annotations.csv').write_text(
        '\n'.join(row for row in rows if not row.endswith((',query', ',gallery'))) + '\n')
    config = annotations_demo_config(tmp_path / 'custom_demo.py', 'given_below')
    work_dir = tmp_path / 'work'
    train = load_script(ROOT / 'tools/train.py', 'train_tool')
    options = [f'train_dataloader.dataset.data_root={data_root}',
               'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'model.head.num_classes=8',
               'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1', 'custom_hooks=[]']
    validation = [f'{loader}.dataset.data_root={data_root}'
                  for loader in ('val_dataloader', 'test_dataloader')]
    with pytest.raises(SystemExit, match=r'CustomReIDAnnotations: the query split under .* has '
                                         r'no images'):
        train.main([str(config), '--work-dir', str(tmp_path / 'refused'), '--cfg-options',
                    *options, *validation])
    train.main([str(config), '--work-dir', str(work_dir), '--cfg-options', *options,
                'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
                'test_dataloader=None', 'test_cfg=None', 'test_evaluator=None'])
    assert (work_dir / 'epoch_1.pth').is_file()
    [scalars] = work_dir.glob('*/vis_data/scalars.json')
    assert 'reid/' not in scalars.read_text()


def test_the_configs_camera_pattern_reads_the_camera_after_an_underscore(tmp_path):
    """A 'c' followed by digits elsewhere in the name (Dec2023, rec3) is not the camera."""
    pattern = Config.fromfile(CONFIGS['folders']).reid_dataset.camera_pattern
    root = write_folders(tmp_path, ['train/0001/Dec2023_c1_000.jpg',
                                    'train/0002/rec3_c2_000.jpg', 'train/0002/0002_c4_001.jpg'])
    dataset = CustomReIDFolders(data_root=root, camera_pattern=pattern)
    # in name order: Dec2023_c1_000, 0002_c4_001, rec3_c2_000
    assert [camera for *_, camera in summary(dataset)] == [1, 4, 2]


EXAMPLE = "write it like r'_c(?P<camera>\\d+)'"


@pytest.mark.parametrize('pattern, message', [
    (('?P<camera>\\d+',), "CustomReIDFolders: camera_pattern must be a regular expression "
                          "string like r'_c(?P<camera>\\d+)', got the tuple ('?P<camera>\\\\d+',); "
                          'set it in a config file, as --cfg-options reads brackets and commas '
                          'as tuples and lists'),
    (r'c(?P<camera>\d+', "CustomReIDFolders: camera_pattern r'c(?P<camera>\\d+' is no regular "
                         'expression (missing ), unterminated subpattern at position 1); '
                         + EXAMPLE),
])
def test_a_camera_pattern_that_is_no_regular_expression_names_the_setting(tmp_path, pattern,
                                                                         message):
    """The tuple is what --cfg-options makes of a value starting with a bracket."""
    with pytest.raises(ConfigError) as error:
        CustomReIDFolders(data_root=str(tmp_path), camera_pattern=pattern)
    assert str(error.value) == message
