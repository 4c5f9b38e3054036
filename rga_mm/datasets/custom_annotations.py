"""Re-ID data of your own, listed in an annotation file: CSV with a header, or JSON lines."""
import csv
import io
import json
import ntpath
import os
import os.path as osp
import unicodedata
from collections.abc import Iterator
from typing import Any

from rga_mm.errors import DatasetError, closest_choice_hint, first_listed
from rga_mm.registry import DATASETS
from .custom_reid import (
    INT64_RANGE,
    CustomReIDDataset,
    cross_split_clause,
    fits_int64,
    integer_fix,
    parse_integer,
)
from .folder_listing import file_id
from .reid_dataset import JUNK_ID, check_path_setting
from .text_files import read_utf8_text

FIELDS = ('img_path', 'person_id', 'camera_id', 'split')
FILE_SPLITS = ('train', 'query', 'gallery')
# split names of other toolkits for the images a re-ID test searches and searches among
TEST_SPLIT_NAMES = ('test', 'val', 'valid', 'validation', 'eval')
SUFFIXES = {'.csv': 'csv', '.jsonl': 'json', '.json': 'json'}
EXAMPLE_JSON = ('{"img_path": "images/0001_c1_000.jpg", "person_id": 1, "camera_id": 1, '
                '"split": "train"}')
# separators of other CSV dialects (Excel's in locales with a decimal comma; TSV), found in
# a header that lacks the columns
SEPARATORS = ((';', 'semicolon'), ('\t', 'tab'))
# characters of a header line that an error shows
HEADER_SHOWN = 120
# annotation files named in the error for a missing ann_file
MAX_LISTED_FILES = 5


@DATASETS.register_module()
class CustomReIDAnnotations(CustomReIDDataset):
    """Re-ID images listed in one annotation file, one row per image.

    Every row gives ``img_path`` (relative to ``data_root``, or absolute), ``person_id``
    (an integer; -1 marks junk, dropped), ``camera_id`` (an integer, kept as written: the
    protocol only compares cameras) and ``split`` (``train``, ``query`` or ``gallery``);
    other columns or keys are ignored. ``.csv``: comma-separated with these names on its
    first line, e.g.::

        img_path,person_id,camera_id,split
        images/0001_c1_000.jpg,1,1,train

    ``.jsonl`` (or ``.json``): one JSON object per line, e.g. ``{"img_path":
    "images/0001_c1_000.jpg", "person_id": 1, "camera_id": 1, "split": "train"}``;
    integers may also be written as strings of digits. A JSON array (an ordinary indented
    ``.json`` file) is refused as such. Blank lines are skipped in both formats, and so are
    CSV rows whose cells are all empty or spaces (the ``,,,`` of a cleared spreadsheet row).
    The file is UTF-8, with or without a byte-order mark; another encoding (UTF-16, cp1252)
    is an error naming the file.

    A backslash in ``img_path`` separates folders on every system, so that paths written on
    Windows (``images\\train\\0001_c1_000.jpg``) load on Linux too; a POSIX file name that
    contains a backslash, which datasets practically never have, thus cannot be listed. A
    Windows absolute path (``C:\\...``) cannot be opened elsewhere: its error says so. A
    non-ASCII name written in another Unicode normalisation than the file's on disk (macOS
    writes accented letters decomposed) finds the file.

    The whole file is checked on load, whatever the split asked for: a missing field, an
    identity or camera that is not an integer (3.0 included) or lies outside int64, an
    unknown split, an image that does not exist or an image listed twice (also under another
    path through a symbolic or hard link, compared by device and inode; in one split or two,
    where a query would match itself or the test score a training image) is an error naming
    the file and the line. A CSV header that repeats one of the four columns, or a JSON line
    that repeats one of the four keys, is an error naming the file (and the line) where the
    reader would silently keep the last value; repeats of other columns or keys are ignored
    with them.

    Args:
        data_root: the folder image paths are relative to; required (None is an error) even
            when every path in the file is absolute.
        ann_file: the annotation file, relative to ``data_root`` or absolute.
        split, **kwargs: as :class:`~rga_mm.datasets.reid_dataset.ReIDDataset`
            (``data_prefix=dict(img_path='images')`` makes image paths relative to
            ``data_root/images``, as in mmengine's ``BaseDataset``).
    """

    dataset_name = 'CustomReIDAnnotations'
    data_root_note = (', which a relative img_path or ann_file starts from (set it even when '
                      'every path is absolute)')

    def __init__(self, data_root: str, ann_file: str, **kwargs: Any) -> None:
        check_path_setting(self.dataset_name, 'ann_file', ann_file)
        self._given_ann_file = os.fspath(ann_file)  # mmengine joins a relative one to data_root
        self._rows_by_split = None
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    @property
    def layout(self) -> str:
        return (f'rows of the splits train, query and gallery in {self.ann_file}, a CSV file '
                f'with the header {",".join(FIELDS)} or a JSON-lines file with these keys')

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        return False  # any file name can be an annotation file: nothing to recognise

    def source(self) -> str:
        return self.ann_file

    def load_split(self, split: str) -> list[dict]:
        if self._rows_by_split is None:
            self._rows_by_split = self._read()
        return self._rows_by_split[split]

    def _read(self) -> dict[str, list[dict]]:
        """Every row of the file, checked, by split."""
        if not osp.isfile(self.ann_file):
            raise self._missing_file_error()
        suffix = osp.splitext(self.ann_file)[1].lower()
        if suffix not in SUFFIXES:
            raise DatasetError(f'{self.dataset_name}: cannot tell the format of '
                               f'{self.ann_file} from its extension; name it .csv (with the '
                               f'header {",".join(FIELDS)}) or .jsonl (one JSON object per '
                               f'line)')
        text = read_utf8_text(self.ann_file, self.dataset_name)
        records = self._csv_rows(text) if SUFFIXES[suffix] == 'csv' else self._json_rows(text)
        by_split = {split: [] for split in FILE_SPLITS}
        first_row_of = {}  # the file's file_id → (line, split, img_path) of its first row
        for line, record in records:
            split, item = self._item(line, record)
            row = line, split, item['img_path']
            file = file_id(os.stat(item['img_path']))
            if file in first_row_of:
                raise self._listed_twice_error(record['img_path'], row, first_row_of[file])
            first_row_of[file] = row
            by_split[split].append(item)
        return by_split

    def _listed_twice_error(self, written: str, row: tuple[int, str, str],
                            first_row: tuple[int, str, str]) -> DatasetError:
        """The error for the row ``row`` (line, split, image path; its img_path as
        ``written``) whose image file the earlier row ``first_row`` lists too: under the same
        path, or another one through a symbolic or hard link. Where the two rows are in two
        splits, the error says what that does to the scores."""
        (line, split, path), (first_line, first_split, first_path) = row, first_row
        again = ('again' if first_path == path else
                 f'(the file of {first_path}, through a symbolic or hard link)')
        return DatasetError(f'{self.dataset_name}: line {line} of {self.ann_file} lists '
                            f'{written} {again}, first on line {first_line}'
                            f'{cross_split_clause(first_split, split)}; each image has one row')

    def _missing_file_error(self) -> Exception:
        """The error for an ``ann_file`` that is no file: a folder, or a missing file whose
        folder holds other annotation files (the .jsonl beside a default annotations.csv),
        named with the option to set."""
        where = ('set ann_file to it (on the command line in train_dataloader.dataset, '
                 'val_dataloader.dataset and test_dataloader.dataset)')
        if osp.isdir(self.ann_file):
            return DatasetError(f'{self.dataset_name}: ann_file {self.ann_file} is a folder; '
                                f'name the annotation file, e.g. annotations.csv, and {where}')
        given = self._given_ann_file
        if not osp.isabs(given) and osp.isfile(given):
            return FileNotFoundError(
                f'{self.dataset_name}: ann_file {self.ann_file} not found: a relative ann_file '
                f'is read from data_root ({self.data_root}), but {given} is a file of the '
                f'working folder {os.getcwd()}; give ann_file='
                f'{osp.relpath(given, self.data_root)} or the absolute path '
                f'{osp.abspath(given)}')
        folder = osp.dirname(self.ann_file) or '.'
        try:
            others = sorted(name for name in os.listdir(folder) if not name.startswith('.')
                            and osp.splitext(name)[1].lower() in SUFFIXES)
        except OSError:
            others = []
        if not others:
            return self.missing_path_error(self.ann_file)
        listed = first_listed(others, MAX_LISTED_FILES)
        return FileNotFoundError(f'{self.missing_path_error(self.ann_file)}; {folder} '
                                 f'holds {listed}: if '
                                 f'{"it is" if len(others) == 1 else "one of them is"} '
                                 f'yours, {where}')

    def _csv_rows(self, text: str) -> Iterator[tuple[int, dict]]:
        """(line, row) of each row that is not blank, ``line`` the first line of the row (a
        quoted cell may span several)."""
        reader = csv.DictReader(io.StringIO(text, newline=''))
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in FIELDS if name not in header]
        if missing:
            raise self._header_error(missing, text.partition('\n')[0].rstrip('\r'))
        self._check_header_repeats(header)
        reader.fieldnames = header
        lines = io.StringIO(text, newline='').readlines()  # as the reader counts them
        row_end = reader.line_num
        for row in reader:
            # the reader skips empty lines before a row
            row_start = next(number for number in range(row_end + 1, reader.line_num + 1)
                             if lines[number - 1].strip('\r\n'))
            row_end = reader.line_num
            if not _is_blank(row):
                yield row_start, row

    def _header_error(self, missing: list[str], first_line: str) -> DatasetError:
        """The error for a header (``first_line``, as read) that lacks the ``missing``
        columns; a line with semicolons or tabs is named as such, since the reader splits
        at commas only."""
        start = (f'{self.dataset_name}: the header on line 1 of {self.ann_file} lacks '
                 f'{", ".join(missing)} (the line reads {_shortened(first_line)!r})')
        separator = next((name for char, name in SEPARATORS if char in first_line), None)
        if separator is None:
            return DatasetError(f'{start}; the first line names the columns, e.g. '
                                f'{",".join(FIELDS)}')
        return DatasetError(f'{start}; the file looks {separator} separated, but the reader '
                            f'expects commas: save it comma separated, with the first line '
                            f'{",".join(FIELDS)}')

    def _check_header_repeats(self, header: list[str]) -> None:
        """Refuse a header that names one of :data:`FIELDS` in several columns, of which
        ``csv.DictReader`` would silently keep the last."""
        columns_of = {name: [str(index) for index, column in enumerate(header, start=1)
                             if column == name] for name in FIELDS}
        repeats = [f'{name} (columns {_joined(columns)})'
                   for name, columns in columns_of.items() if len(columns) > 1]
        if repeats:
            raise DatasetError(f'{self.dataset_name}: the header on line 1 of {self.ann_file} '
                               f'repeats the column{"s" if len(repeats) > 1 else ""} '
                               f'{_joined(repeats)}; keep one column of each name, as the '
                               f'reader would silently take the last')

    def _json_rows(self, text: str) -> Iterator[tuple[int, dict]]:
        for line, row in enumerate(io.StringIO(text, newline=None), start=1):
            if not row.strip():
                continue
            try:
                record = json.loads(row, object_pairs_hook=_JSONObject)
            except json.JSONDecodeError as error:
                if row.lstrip().startswith('['):
                    raise self._json_array_error(line) from None
                raise DatasetError(f'{self.dataset_name}: line {line} of {self.ann_file} '
                                   f'is not valid JSON ({_decoder_message(error)}); expected '
                                   f'one object per line, e.g. {EXAMPLE_JSON}') from None
            if isinstance(record, list):
                raise self._json_array_error(line)
            if not isinstance(record, dict):
                raise DatasetError(f'{self.dataset_name}: line {line} of {self.ann_file} '
                                   f'is not a JSON object; expected e.g. {EXAMPLE_JSON}')
            self._check_key_repeats(line, record)
            yield line, record

    def _check_key_repeats(self, line: int, record: '_JSONObject') -> None:
        """Refuse a line whose object repeats one of :data:`FIELDS`, of which ``json.loads``
        would silently keep the last value."""
        repeats = [name for name in record.repeated if name in FIELDS]
        if repeats:
            raise DatasetError(f'{self.dataset_name}: line {line} of {self.ann_file} repeats '
                               f'the key{"s" if len(repeats) > 1 else ""} {_joined(repeats)}; '
                               f'give each key once, as the reader would silently take the '
                               f'last value')

    def _json_array_error(self, line: int) -> DatasetError:
        """The error for a JSON array where JSON lines are expected (an ordinary .json
        file, indented or not)."""
        return DatasetError(f'{self.dataset_name}: line {line} of {self.ann_file} holds a '
                            f'JSON array, but .json and .jsonl annotation files are read as '
                            f'JSON lines; write one object per line without enclosing '
                            f"brackets (e.g. jq -c '.[]' {self.ann_file}), each like "
                            f'{EXAMPLE_JSON}')

    def _item(self, line: int, record: dict) -> tuple[str, dict]:
        """(split, item) of one row; an error naming the line if the row is bad."""
        where = f'line {line} of {self.ann_file}'
        missing = [name for name in FIELDS if record.get(name) is None or
                   (isinstance(record[name], str) and not record[name].strip())]
        if missing:
            raise DatasetError(f'{self.dataset_name}: {where} has no {", ".join(missing)}; '
                               f'every row gives {", ".join(FIELDS)}')
        labels = self._labels(record, where)
        split = str(record['split']).strip()
        if split not in FILE_SPLITS:
            raise DatasetError(f'{self.dataset_name}: split {split!r} on {where} is not one '
                               f'of {", ".join(FILE_SPLITS)}{split_hint(split)}')
        if not isinstance(record['img_path'], str):
            raise DatasetError(f'{self.dataset_name}: img_path {record["img_path"]!r} on '
                               f'{where} is not a path')
        written = record['img_path'].strip()
        path = self._image_path(written.replace('\\', '/'))
        if osp.isdir(path):
            raise DatasetError(f'{self.dataset_name}: img_path {written} on {where} is the '
                               f'folder {path}; each row names one image file')
        if not osp.isfile(path):
            raise self._missing_image_error(written, path, where)
        return split, dict(img_path=path, gt_label=labels['person_id'],
                           camera_id=labels['camera_id'])

    def _labels(self, record: dict, where: str) -> dict[str, int]:
        """``person_id`` and ``camera_id`` of the row ``record`` on ``where`` as ints; an
        error naming the line and the value for one that is not an integer, an identity below
        -1, or one outside int64, which the pipeline cannot carry."""
        labels = {}
        for name in ('person_id', 'camera_id'):
            labels[name] = parse_integer(record[name])
            if labels[name] is None:
                raise DatasetError(f'{self.dataset_name}: {name} {record[name]!r} on {where} '
                                   f'is not an integer; identities and cameras are whole '
                                   f'numbers (person_id -1 for junk): '
                                   f'{integer_fix(record[name])}')
        if labels['person_id'] < JUNK_ID:
            raise DatasetError(f'{self.dataset_name}: person_id {labels["person_id"]} on '
                               f'{where} is negative; identities are 0 or more (0 for '
                               f'distractors), and -1 marks junk')
        for name, value in labels.items():
            if not fits_int64(value):
                raise DatasetError(f'{self.dataset_name}: {name} {value} on {where} is outside '
                                   f'{INT64_RANGE}; number identities and cameras within it')
        return labels

    def _image_path(self, written: str) -> str:
        """The path of the image ``written`` (with / between folders) in the file: joined to
        the image prefix, and where no file has that name, the one whose name differs only in
        its Unicode normalisation (an accented letter as one code point or as a letter and a
        combining accent, as macOS writes file names), which looks the same everywhere."""
        path = osp.normpath(osp.join(self.data_prefix['img_path'], written))
        if written.isascii() or osp.isfile(path):
            return path
        for form in ('NFC', 'NFD'):
            for candidate in (osp.join(self.data_prefix['img_path'],
                                       unicodedata.normalize(form, written)),
                              unicodedata.normalize(form, path)):
                if osp.isfile(candidate):
                    return osp.normpath(candidate)
        return path

    def _missing_image_error(self, written: str, path: str, where: str) -> FileNotFoundError:
        """The error for the image ``written`` on ``where`` (``path`` once resolved) that
        does not exist, with the likely cause."""
        prefix = self.data_prefix['img_path']
        if ntpath.isabs(written) and not osp.isabs(written):
            return FileNotFoundError(f'{self.dataset_name}: the image {written} on {where} '
                                     f'does not exist (it is a Windows absolute path; write '
                                     f'it relative to {prefix}, or as a path on this machine)')
        start = ('' if osp.isabs(written) else
                 f'relative paths start at {prefix}, with / or \\ between folders; ')
        return FileNotFoundError(f'{self.dataset_name}: the image {path} on {where} does not '
                                 f'exist ({start}check the name, its case included)')


class _JSONObject(dict):
    """A JSON object (``json.loads``'s ``object_pairs_hook``) that keeps, in ``repeated``,
    the keys it gives more than once: a plain dict keeps the last value without a trace."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        names = [name for name, _ in pairs]
        self.repeated = sorted({name for name in names if names.count(name) > 1},
                               key=names.index)


def _joined(words: list[str]) -> str:
    """``words`` as an English list: 'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else f'{", ".join(words[:-1])} and {words[-1]}'


def _is_blank(row: dict) -> bool:
    """Whether every cell of a CSV row is empty or whitespace: a line of spaces, or the
    ``,,,`` a spreadsheet writes for a cleared row (cells beyond the header included, which
    ``csv.DictReader`` gathers in a list)."""
    cells = [cell for value in row.values()
             for cell in (value if isinstance(value, list) else [value])]
    return all(cell is None or not cell.strip() for cell in cells)


def _shortened(line: str, limit: int = HEADER_SHOWN) -> str:
    """``line``, cut to ``limit`` characters with '...' where it is longer."""
    return line if len(line) <= limit else line[:limit] + '...'


def _decoder_message(error: json.JSONDecodeError) -> str:
    """json's reason and column: ``error.msg`` alone can end in a cut-off 'at'
    ('Invalid control character at')."""
    return f'{error.msg.removesuffix(" at")} at column {error.colno}'


def split_hint(split: str) -> str:
    """The end of the refusal of the annotation split ``split``: for a test split named as
    a whole (``'test'``, ``'val'``), that a re-ID test is its query and gallery rows; else
    the closest FILE_SPLITS value (``'Train'``, ``'galery'``)."""
    if split.lower() in TEST_SPLIT_NAMES:
        return ('; a re-ID test is split in two: write query for the images searched for and '
                'gallery for the images searched among')
    return closest_choice_hint(split, FILE_SPLITS)
