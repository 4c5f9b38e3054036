"""MSMT17 (Wei et al., "Person Transfer GAN", CVPR 2018), versions V1 and V2."""
import io
import os
import os.path as osp
import re
from typing import Any

from rga_mm.errors import DatasetError
from rga_mm.registry import DATASETS
from .folder_listing import is_file
from .reid_dataset import ReIDDataset
from .text_files import read_utf8_text

# image folders of (train, val) and (query, gallery) per release
IMAGE_FOLDERS = (('train', 'test'), ('mask_train_v2', 'mask_test_v2'))
RELEASES = ('MSMT17_V1', 'MSMT17_V2')
ACCEPTED_FOLDERS = ' or '.join(f'{train}/ and {test}/ ({release})' for (train, test), release
                               in zip(IMAGE_FOLDERS, RELEASES))
LIST_FILES = dict(train='list_train.txt', val='list_val.txt', query='list_query.txt',
                  gallery='list_gallery.txt')
PATH_PATTERN = r'(?P<path>\d{4}/\d{4}_\d{3}_(?P<camera>\d{2})_\d{4}[a-z]+_\d{4}_\d+\.jpg)'
LINE_PATTERN = re.compile(PATH_PATTERN + r' (?P<identity>\d+)')
# a line whose path parses but whose identity does not, e.g. '... 3.5' or '... 3.0'
BAD_IDENTITY_PATTERN = re.compile(PATH_PATTERN + r' (?P<identity>\S+)')
EXAMPLE_LINE = '0000/0000_000_01_0303morning_0015_0.jpg 0'
NUM_CAMERAS = 15


class ListedFolders:
    """Whether an image folder holds a file, its subfolders listed once each as asked
    (MSMT17 lists about 4,100 identity folders for 126,441 images)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.names: dict[str, set[str]] = {}

    def holds(self, path: str) -> bool:
        """Whether ``root`` / ``path`` (``folder/name``) is a file or a link to one."""
        folder, name = path.split('/')
        if folder not in self.names:
            folder_path = osp.join(self.root, folder)
            self.names[folder] = (set() if not osp.isdir(folder_path) else
                                  {entry.name for entry in os.scandir(folder_path)
                                   if is_file(entry)})
        return name in self.names[folder]


@DATASETS.register_module()
class MSMT17(ReIDDataset):
    """MSMT17: 1,041 training and 3,060 test identities, 15 cameras.

    ``data_root`` is ``MSMT17_V1`` (images in ``train/`` and ``test/``) or ``MSMT17_V2``
    (``mask_train_v2/`` and ``mask_test_v2/``, faces blurred); both hold
    ``list_{train,val,query,gallery}.txt`` with lines ``{identity:04d}/{file}.jpg {label}``,
    and file names ``{identity}_{index}_{camera:02d}_{date}{time}_{frame}_{n}.jpg``.
    Expected sizes: train (with val) 1,041 ids / 32,621 images, query 3,060 / 11,659,
    gallery 3,060 / 82,161.

    Args:
        with_val: train on ``list_train.txt`` plus ``list_val.txt`` (32,621 images, the
            training set of the MSMT17 paper and of the RGA results) or on
            ``list_train.txt`` alone (30,248 images).
    """

    dataset_name = 'MSMT17'
    layout = ('list_{train,val,query,gallery}.txt and train/ + test/ (V1) or '
              'mask_train_v2/ + mask_test_v2/ (V2) under data_root')

    def __init__(self, data_root: str, with_val: bool = True, **kwargs: Any) -> None:
        self.with_val = with_val
        super().__init__(data_root=data_root, **kwargs)

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        return all(osp.isfile(osp.join(root, LIST_FILES[name])) for name in ('train', 'query'))

    def load_split(self, split: str) -> list[dict]:
        train_folder, test_folder = self._image_folders()
        if split == 'train':
            lists = ('train', 'val') if self.with_val else ('train', )
            first_seen = {}  # shared: an image in both lists would load twice too
            return [item for name in lists
                    for item in self._read_list(name, train_folder, first_seen)]
        return self._read_list(split, test_folder, {})

    def _image_folders(self) -> list[str]:
        """The (train, test) image folders of the release under ``data_root``."""
        present = [folder for folders in IMAGE_FOLDERS for folder in folders
                   if osp.isdir(osp.join(self.data_root, folder))]
        for folders in IMAGE_FOLDERS:
            if all(folder in present for folder in folders):
                return [osp.join(self.data_root, folder) for folder in folders]
        raise self._image_folders_error(present)

    def _image_folders_error(self, present: list[str]) -> FileNotFoundError:
        """The error naming the image folders missing beside the ``present`` ones (of either
        release), or, when none is present, the layout."""
        if not present:
            return FileNotFoundError(
                f'MSMT17: {self.data_root} holds no image folder; expected '
                f'{ACCEPTED_FOLDERS} beside the list files{self.layout_hint()}')
        missing = [osp.join(self.data_root, folder) for folders in IMAGE_FOLDERS
                   if any(folder in present for folder in folders)
                   for folder in folders if folder not in present]
        return FileNotFoundError(
            f'MSMT17: {" and ".join(missing)} not found; data_root holds the image folders '
            f'of one release, {ACCEPTED_FOLDERS}, and {self.data_root} holds only '
            f'{" and ".join(folder + "/" for folder in present)}')

    def _read_list(self, name: str, image_folder: str,
                   first_seen: dict[str, tuple[str, int]]) -> list[dict]:
        """The items of ``list_{name}.txt``; ``first_seen`` maps each image path read so far
        to (list file, line), and a path seen before is an error naming both lines."""
        list_path = osp.join(self.data_root, LIST_FILES[name])
        if not osp.isfile(list_path):
            raise self.missing_path_error(list_path)
        items, missing = [], []
        present = ListedFolders(image_folder)
        lines = io.StringIO(read_utf8_text(list_path, 'MSMT17'), newline=None)  # as open()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            match = LINE_PATTERN.fullmatch(line.strip())
            if match is None:
                raise self._bad_line_error(line.strip(), f'line {number} of {list_path}')
            camera = int(match['camera'])
            if not 1 <= camera <= NUM_CAMERAS:
                raise DatasetError(f'MSMT17: camera {camera} on line {number} of '
                                   f'{list_path} is outside 1..{NUM_CAMERAS}')
            self._check_first(match['path'], list_path, number, first_seen)
            if not present.holds(match['path']):
                missing.append((number, match['path']))
            items.append(dict(img_path=osp.join(image_folder, match['path']),
                              gt_label=int(match['identity']), camera_id=camera - 1))
        if missing:
            number, path = missing[0]
            raise DatasetError(f'MSMT17: {len(missing)} image(s) listed in {list_path} are not '
                               f'in {image_folder} (the first: {path}, line {number}); '
                               f'restore them from the release')
        return items

    @staticmethod
    def _check_first(path: str, list_path: str, number: int,
                     first_seen: dict[str, tuple[str, int]]) -> None:
        """Record ``path`` as listed on line ``number`` of ``list_path``; a DatasetError if
        it was listed before (the image would load twice)."""
        if path in first_seen:
            first_path, first_number = first_seen[path]
            first = (f'line {first_number}' if first_path == list_path else
                     f'line {first_number} of {first_path}')
            raise DatasetError(f'MSMT17: line {number} of {list_path} lists {path} again, '
                               f'first on {first}; each image has one line')
        first_seen[path] = list_path, number

    def _bad_line_error(self, line: str, where: str) -> DatasetError:
        """The error for a list line that does not parse; a label that is not a whole
        number (``3.5``, or even ``3.0``) is named as such rather than truncated."""
        bad_identity = BAD_IDENTITY_PATTERN.fullmatch(line)
        identity = bad_identity['identity'] if bad_identity else None
        if identity is not None and not re.fullmatch(r'[+-]?\d+', identity):
            return DatasetError(f'MSMT17: the identity {identity!r} on {where} '
                                f'is not an integer; list lines end with a whole-number '
                                f'label (e.g. {EXAMPLE_LINE!r})')
        return self.bad_name_error(where, LINE_PATTERN.pattern, EXAMPLE_LINE)
