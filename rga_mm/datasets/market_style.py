"""Datasets in Market-1501's folder layout: one folder of images per split, identity and
camera written in each file name."""
import json
import os.path as osp
import re

from rga_mm.errors import DatasetError
from .folder_listing import image_subfolders
from .reid_dataset import ReIDDataset, scan_images, warn_of_other_images

SPLIT_FOLDERS = dict(train='bounding_box_train', query='query', gallery='bounding_box_test')
# the manifest that rga_mm.synthetic writes into a folder of this layout it generates,
# marked complete only once its last image is written
SYNTHETIC_MANIFEST = 'synthetic_manifest.json'


class MarketStyleDataset(ReIDDataset):
    """A dataset whose splits are ``{image_root}/{bounding_box_train,query,bounding_box_test}``.

    Subclasses set ``file_pattern`` (a regex whose groups ``identity`` and ``camera`` are
    read from each file name), ``example_name``, ``suffix`` and ``num_cameras``
    (cameras are numbered 1..num_cameras in file names and 0-based in the items).
    Only ``suffix`` files are loaded (as torchreid globs ``*.jpg``); other image files in a
    split folder (``.JPG``, ``.jpeg``) are left out with one logged warning.
    """

    file_pattern: re.Pattern
    example_name = ''
    suffix = '.jpg'
    num_cameras = 0

    @property
    def layout(self) -> str:
        """The three split folders under ``data_root``, and a file name of the dataset."""
        return (f'{SPLIT_FOLDERS["train"]}/, {SPLIT_FOLDERS["query"]}/ and '
                f'{SPLIT_FOLDERS["gallery"]}/ under data_root, with files like '
                f'{self.example_name}')

    @property
    def image_root(self) -> str:
        """The folder holding the three split folders."""
        return self.data_root

    def load_split(self, split: str) -> list[dict]:
        check_generation_finished(self.dataset_name, self.image_root)
        folder = osp.join(self.image_root, SPLIT_FOLDERS[split])
        names = scan_images(folder, self.suffix)
        if names is None:
            raise self.missing_path_error(folder)
        if not names:
            check_images_not_one_folder_down(self.dataset_name, folder)
        warn_of_other_images(self.dataset_name, folder, self.suffix)
        return [self._parse(folder, name) for name in names]

    def _parse(self, folder: str, name: str) -> dict:
        path = osp.join(folder, name)
        match = self.file_pattern.fullmatch(name)
        if match is None:
            raise self.bad_name_error(path, self.file_pattern.pattern, self.example_name)
        camera = int(match['camera'])
        if not 1 <= camera <= self.num_cameras:
            raise DatasetError(f'{self.dataset_name}: camera {camera} in {path} is outside '
                               f'1..{self.num_cameras}')
        return dict(img_path=path, gt_label=int(match['identity']), camera_id=camera - 1)

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        return cls.names_match(root)

    @classmethod
    def names_match(cls, image_root: str) -> bool:
        """Whether the first image of the train folder under ``image_root`` parses."""
        names = scan_images(osp.join(image_root, SPLIT_FOLDERS['train']), cls.suffix)
        return bool(names) and cls.file_pattern.fullmatch(names[0]) is not None


def check_images_not_one_folder_down(dataset_name: str, folder: str) -> None:
    """A DatasetError when the split ``folder``, which holds no image, has a subfolder that
    does (an archive unpacked into a folder of its own name, ``bounding_box_train/
    bounding_box_train/``): the split is read from the images directly in ``folder``."""
    subfolders = image_subfolders(folder)
    if subfolders:
        raise DatasetError(f'{dataset_name}: {folder} holds no image, but its subfolder '
                           f'{subfolders[0]} does (unpacked one folder too deep?); the images '
                           f'of a split lie directly in its folder: move them up into {folder}')


def check_generation_finished(dataset_name: str, image_root: str) -> None:
    """A DatasetError when ``image_root`` holds a synthetic dataset whose writing did not
    finish: its manifest (:data:`SYNTHETIC_MANIFEST`) does not say ``"complete": true``, as
    after an interrupted generator. Its split folders hold part of the images, which would
    pass for a whole, smaller dataset."""
    path = osp.join(image_root, SYNTHETIC_MANIFEST)
    if not osp.isfile(path):
        return
    try:
        with open(path, encoding='utf-8') as file:
            complete = json.load(file).get('complete') is True
    except (OSError, ValueError, AttributeError):  # cut short, not JSON, not a dict
        complete = False
    if not complete:
        raise DatasetError(f'{dataset_name}: {image_root} is a synthetic dataset whose writing '
                           f'did not finish ({path} does not mark it complete: its generator '
                           f'was interrupted or is still running); run '
                           f'tools/misc/generate_synthetic_reid.py again with the same '
                           f'options, which writes it anew')
