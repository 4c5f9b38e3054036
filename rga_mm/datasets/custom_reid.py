"""What the re-ID datasets for your own data share: integer parsing and its int64 bound, what
one image file under two splits does to the scores, and the test-split check."""
import re
from typing import Any

from rga_mm.checks import is_int
from rga_mm.errors import ConfigError, DatasetError, first_listed
from .reid_dataset import ReIDDataset

INTEGER = re.compile(r'[+-]?\d+')
# the identities and cameras the pipeline can carry: int64, the dtype of mmpretrain's
# format_label tensor and of the metric's label arrays (a larger id overflows there)
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
INT64_RANGE = (f'int64 ({INT64_MIN} to {INT64_MAX}), the range of identities and cameras the '
               f'pipeline carries')
# query identities named in the error when some have no gallery image
MAX_LISTED_IDS = 10


class CustomReIDDataset(ReIDDataset):
    """A re-ID dataset whose identities and cameras come from the user's own files.

    On top of :class:`ReIDDataset` (splits, relabelling, junk -1, statistics, integer
    labels), ``split='test'`` refuses query identities that have no gallery image at all:
    such a query can never be matched, which says the split is wrong. (A query whose gallery
    images all come from its own camera is legal: the metric skips and counts it.) An empty
    ``data_root`` is refused as None is: it would name no folder in the errors that follow.
    """

    def __init__(self, data_root: str, **kwargs: Any) -> None:
        if isinstance(data_root, str) and not data_root.strip():
            raise ConfigError(f"{self.dataset_name}: data_root is empty; set data_root to the "
                              f"dataset's folder{self.data_root_note}, or '.' for the current "
                              f'folder')
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        items = super().load_data_list()
        if self.split == 'test':
            self._check_queries_in_gallery(items)
        return items

    def _check_queries_in_gallery(self, items: list[dict]) -> None:
        gallery_ids = {item['gt_label'] for item in items if not item['is_query']}
        missing = sorted({item['gt_label'] for item in items if item['is_query']} -
                         gallery_ids)
        if missing:
            listed = first_listed(missing, MAX_LISTED_IDS)
            count = ('1 query identity has' if len(missing) == 1 else
                     f'{len(missing)} query identities have')
            raise DatasetError(f'{self.dataset_name}: {count} no gallery image at all '
                               f'({listed}) in {self.source()}; every query identity needs '
                               f'gallery images, or its queries can never match')

    def source(self) -> str:
        """Where the annotations come from, for error messages."""
        return self.data_root


def parse_integer(value: Any) -> int | None:
    """``value`` as an int if it is one (an int, or a string of one such as '0042' or '-1');
    None for anything else, a float or '3.0' included, which the caller reports."""
    if is_int(value):
        return int(value)
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def integer_fix(value: Any) -> str:
    """What to write instead of ``value``, a label :func:`parse_integer` refused: a float is
    never truncated; a name with digits ('p001', 'c1', a Market camera 'c1s2') is given by
    its first digits; anything else is numbered."""
    text = str(value).strip()
    try:
        float(text)
        return 'a float one is refused rather than truncated'
    except ValueError:
        digits = first_digits(text)
    if digits is None:
        return 'number them 0, 1, 2, ...'
    return f'write {digits} for {text!r} (its first digits), or number them'


def first_digits(name: str) -> str | None:
    """The first run of digits in ``name`` ('001' of 'p001'), None where it has none."""
    digits = re.search(r'\d+', name)
    return None if digits is None else digits.group()


def fits_int64(value: int) -> bool:
    """Whether the integer ``value`` lies in :data:`INT64_RANGE`, as an identity or camera
    must; one outside loads, then overflows in the pipeline or the metric."""
    return INT64_MIN <= value <= INT64_MAX


def cross_split_clause(first_split: str, split: str) -> str:
    """What one image file under both ``first_split`` and ``split`` does to the scores, as a
    clause following "are the same file"; '' where the two are one split."""
    if first_split == split:
        return ''
    effect = ('a query would match itself and raise Rank-1 and mAP'
              if {first_split, split} == {'query', 'gallery'} else
              'the test would score an image the model trained on')
    first, second = sorted((first_split, split), key=ReIDDataset.SPLITS.index)
    return f' in the {first} and {second} splits, where {effect}'
