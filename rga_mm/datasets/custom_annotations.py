"""Re-ID data of your own, listed in an annotation file: CSV with a header, or JSON lines."""
import csv
import json
import os.path as osp
from collections.abc import Iterator

from rga_mm.registry import DATASETS
from .custom_reid import CustomReIDDataset, parse_integer

FIELDS = ('img_path', 'person_id', 'camera_id', 'split')
FILE_SPLITS = ('train', 'query', 'gallery')
SUFFIXES = {'.csv': 'csv', '.jsonl': 'json', '.json': 'json'}
EXAMPLE_JSON = ('{"img_path": "images/0001_c1_000.jpg", "person_id": 1, "camera_id": 1, '
                '"split": "train"}')


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
    integers may also be written as strings of digits.

    The whole file is checked on load, whatever the split asked for: a missing field, an
    identity or camera that is not an integer (3.0 included), an unknown split, an image
    that does not exist or an image listed twice is an error naming the file and the line.

    Args:
        data_root: the folder image paths are relative to.
        ann_file: the annotation file, relative to ``data_root`` or absolute.
        split, **kwargs: as :class:`~rga_mm.datasets.reid_dataset.ReIDDataset`
            (``data_prefix=dict(img_path='images')`` makes image paths relative to
            ``data_root/images``, as in mmengine's ``BaseDataset``).
    """

    dataset_name = 'CustomReIDAnnotations'

    def __init__(self, data_root: str, ann_file: str, **kwargs):
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
            raise self.missing_path_error(self.ann_file)
        suffix = osp.splitext(self.ann_file)[1].lower()
        if suffix not in SUFFIXES:
            raise ValueError(f'{self.dataset_name}: cannot tell the format of {self.ann_file} '
                             f'from its extension; name it .csv (with the header '
                             f'{",".join(FIELDS)}) or .jsonl (one JSON object per line)')
        records = self._csv_rows() if SUFFIXES[suffix] == 'csv' else self._json_rows()
        by_split = {split: [] for split in FILE_SPLITS}
        first_line_of = {}
        for line, record in records:
            split, item = self._item(line, record)
            if item['img_path'] in first_line_of:
                raise ValueError(f'{self.dataset_name}: line {line} of {self.ann_file} lists '
                                 f'{record["img_path"]} again (first on line '
                                 f'{first_line_of[item["img_path"]]}); each image has one row')
            first_line_of[item['img_path']] = line
            by_split[split].append(item)
        return by_split

    def _csv_rows(self) -> Iterator[tuple[int, dict]]:
        with open(self.ann_file, newline='', encoding='utf-8-sig') as file:
            reader = csv.DictReader(file)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in FIELDS if name not in header]
            if missing:
                raise ValueError(f'{self.dataset_name}: the header on line 1 of '
                                 f'{self.ann_file} lacks {", ".join(missing)}; the first '
                                 f'line names the columns, e.g. {",".join(FIELDS)}')
            reader.fieldnames = header
            for row in reader:
                yield reader.line_num, row

    def _json_rows(self) -> Iterator[tuple[int, dict]]:
        with open(self.ann_file, encoding='utf-8-sig') as file:
            for line, text in enumerate(file, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    raise ValueError(f'{self.dataset_name}: line {line} of {self.ann_file} '
                                     f'is not valid JSON ({error.msg}); expected one object '
                                     f'per line, e.g. {EXAMPLE_JSON}') from None
                if not isinstance(record, dict):
                    raise ValueError(f'{self.dataset_name}: line {line} of {self.ann_file} '
                                     f'is not a JSON object; expected e.g. {EXAMPLE_JSON}')
                yield line, record

    def _item(self, line: int, record: dict) -> tuple[str, dict]:
        """(split, item) of one row; an error naming the line if the row is bad."""
        where = f'line {line} of {self.ann_file}'
        missing = [name for name in FIELDS if record.get(name) is None or
                   (isinstance(record[name], str) and not record[name].strip())]
        if missing:
            raise ValueError(f'{self.dataset_name}: {where} has no {", ".join(missing)}; '
                             f'every row gives {", ".join(FIELDS)}')
        labels = {}
        for name in ('person_id', 'camera_id'):
            labels[name] = parse_integer(record[name])
            if labels[name] is None:
                raise ValueError(f'{self.dataset_name}: {name} {record[name]!r} on {where} is '
                                 f'not an integer; identities and cameras are whole numbers '
                                 f'(person_id -1 for junk), and a float one is refused '
                                 f'rather than truncated')
        split = str(record['split']).strip()
        if split not in FILE_SPLITS:
            raise ValueError(f'{self.dataset_name}: split {split!r} on {where} is not one of '
                             f'{", ".join(FILE_SPLITS)}')
        if not isinstance(record['img_path'], str):
            raise ValueError(f'{self.dataset_name}: img_path {record["img_path"]!r} on '
                             f'{where} is not a path')
        path = osp.normpath(osp.join(self.data_prefix['img_path'], record['img_path'].strip()))
        if not osp.isfile(path):
            raise FileNotFoundError(f'{self.dataset_name}: the image {path} on {where} does '
                                    f'not exist (relative paths start at '
                                    f'{self.data_prefix["img_path"]})')
        return split, dict(img_path=path, gt_label=labels['person_id'],
                           camera_id=labels['camera_id'])
