"""Re-ID data of your own in folders: ``<data_root>/<split>/<person_id>/<image>``."""
import logging
import os
import os.path as osp
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from mmengine.logging import print_log

from rga_mm.errors import ConfigError, DatasetError, first_listed
from rga_mm.registry import DATASETS
from .custom_reid import (
    INT64_RANGE,
    CustomReIDDataset,
    cross_split_clause,
    first_digits,
    fits_int64,
    parse_integer,
)
from .folder_listing import (
    IMAGE_SUFFIXES,
    dangling_links_sentence,
    file_id,
    files_not_read_notice,
    holds_image,
    is_dangling_link,
    is_file,
    is_folder,
    is_unlisted_image,
    is_visible,
)
from .reid_dataset import JUNK_ID

SPLIT_FOLDERS = ('train', 'query', 'gallery')
# subfolders named in the error for a person folder without an image
MAX_LISTED_SUBFOLDERS = 5


def compile_camera_pattern(pattern: str | None, dataset_name: str) -> re.Pattern | None:
    """``pattern`` compiled, or None for None; a ConfigError names a pattern that is no
    string (``--cfg-options`` reads a value that starts with a bracket as a tuple), no
    regular expression, or one without a group named ``camera``."""
    if pattern is None:
        return None
    example = "r'_c(?P<camera>\\d+)'"
    if not isinstance(pattern, str):
        raise ConfigError(f'{dataset_name}: camera_pattern must be a regular expression '
                          f'string like {example}, got the {type(pattern).__name__} '
                          f'{pattern!r}; set it in a config file, as --cfg-options reads '
                          f'brackets and commas as tuples and lists')
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"{dataset_name}: camera_pattern r'{pattern}' is no regular "
                          f'expression ({error}); write it like {example}') from None
    if 'camera' not in compiled.groupindex:
        raise ConfigError(f"{dataset_name}: camera_pattern r'{pattern}' has no group named "
                          f'camera; write it like {example}')
    return compiled


@DATASETS.register_module()
class CustomReIDFolders(CustomReIDDataset):
    """Re-ID images in one folder per person and split::

        data_root/
        ├── train/0001/0001_c1_000.jpg, 0001/0001_c2_004.jpg, 0007/..., ...
        ├── query/0002/...
        └── gallery/0002/..., 0000/... (distractors), -1/... (junk, dropped)

    A person folder is named by its integer identity (``0001`` and ``1`` are the same
    identity, and may not both exist). Images are the files with one of ``suffixes``
    (any case) directly in a person folder, which must hold at least one (a person folder
    without, such as one whose images lie in per-camera subfolders ``0001/cam1/``, is an
    error naming it and its subfolders); other files and deeper folders are not read, with
    one logged warning per split for images among them (files OpenCV recognises as images
    under another suffix, subfolders holding images), and hidden entries and OS metadata in
    split and person folders are ignored: names starting with
    '.' (the ``._<image>`` AppleDouble files macOS writes beside images, ``.DS_Store``,
    ``.ipynb_checkpoints``) and ``__MACOSX`` folders.

    Two paths of one image file (a person folder or an image that is a symbolic link to
    another, or a hard link of an image) are an error naming both, within a split or across
    two: a query that is also a gallery file would match itself, and a train image in the
    test split would be scored after training on it. As ``CustomReIDAnnotations`` checks its
    whole file, the images of all split folders present are compared whatever split is
    loaded, by device and inode (one ``os.stat`` per image; no file is read).

    The camera of an image is read from its file name by ``camera_pattern``, a regular
    expression with a group named ``camera`` searched in the name (e.g.
    ``r'_c(?P<camera>\\d+)'`` reads 3 from ``0001_c3_000.jpg``, where ``r'c(?P<camera>\\d+)'``
    would read 2023 from ``Dec2023_c3_000.jpg``), and kept as written; an
    image whose name it does not match is an error naming the file. Without a pattern every
    image is camera 0: the protocol then finds no match outside the query's own camera, so
    evaluate such data with ``ReIDMetric(exclude_same_camera=False)``. An identity or
    camera outside int64, which the pipeline cannot carry, is an error naming its folder
    or file.

    Args:
        data_root: the folder holding ``train/``, ``query/`` and ``gallery/``.
        camera_pattern: the regular expression above, or None for camera 0 everywhere.
        suffixes: file name endings of images.
        split, **kwargs: as :class:`~rga_mm.datasets.reid_dataset.ReIDDataset`.
    """

    dataset_name = 'CustomReIDFolders'
    layout = ('train/, query/ and gallery/ under data_root, each holding one folder per '
              'person named by its integer id (-1 for junk), e.g. train/0001/image.jpg')

    def __init__(self, data_root: str, camera_pattern: str | None = None,
                 suffixes: Sequence[str] = IMAGE_SUFFIXES, **kwargs: Any) -> None:
        self.camera_pattern = compile_camera_pattern(camera_pattern, self.dataset_name)
        self.suffixes = image_suffixes(suffixes, self.dataset_name)
        super().__init__(data_root=data_root, **kwargs)

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        if not all(osp.isdir(osp.join(root, split)) for split in SPLIT_FOLDERS):
            return False
        return any(is_folder(entry) and parse_integer(entry.name) is not None
                   for entry in _visible_entries(osp.join(root, 'train')))

    def load_split(self, split: str) -> list[dict]:
        folder = osp.join(self.data_root, split)
        if not osp.isdir(folder):
            raise self._missing_split_error(split, folder)
        items, folder_of, unread = [], {}, UnreadEntries([], [], [])
        for entry in _visible_entries(folder):
            if is_dangling_link(entry):
                unread.dangling_links.append(entry.path)
                continue
            if not is_folder(entry):
                if entry.name.lower().endswith(self.suffixes):
                    raise DatasetError(f'{self.dataset_name}: the image {entry.path} lies '
                                       f'directly in {folder}; put it in its person\'s '
                                       f'folder, {folder}{os.sep}<person_id>{os.sep}')
                continue
            identity = parse_integer(entry.name)
            if identity is None and entry.name == split:
                raise DatasetError(f'{self.dataset_name}: {folder} holds a folder of its own '
                                   f'name, {entry.path} (unpacked one folder too deep?); '
                                   f'the person folders lie directly in {folder}: move the '
                                   f'content of {entry.path} up into {folder}')
            if identity is None:
                raise DatasetError(f'{self.dataset_name}: the person folder {entry.path} is '
                                   f'not named by an integer identity; expected {self.layout}: '
                                   f'rename it {first_digits(entry.name) or "by a number"}')
            if identity < JUNK_ID:
                raise DatasetError(f'{self.dataset_name}: the person folder {entry.path} names '
                                   f'the negative identity {identity}; identities are 0 or '
                                   f'more (0 for distractors), and -1 holds junk')
            if not fits_int64(identity):
                raise DatasetError(f'{self.dataset_name}: the person folder {entry.path} names '
                                   f'the identity {identity}, outside {INT64_RANGE}; rename it '
                                   f'with a smaller number')
            if identity in folder_of:
                raise DatasetError(f'{self.dataset_name}: the person folders '
                                   f'{folder_of[identity]} and {entry.path} both name '
                                   f'identity {identity}; merge them')
            folder_of[identity] = entry.path
            items.extend(dict(img_path=osp.join(entry.path, name), gt_label=identity,
                              camera_id=self._camera(entry.path, name))
                         for name in self._images(entry.path, unread))
        self._warn_of_unread(folder, unread)
        return items

    def load_data_list(self) -> list[dict]:
        """The split's items, once the images of every split folder are known to be one
        file each (:func:`_check_each_file_once`)."""
        items = super().load_data_list()
        _check_each_file_once(self.data_root, self.suffixes, self.dataset_name)
        return items

    def _missing_split_error(self, split: str, folder: str) -> Exception:
        """The error for the split ``folder`` that does not exist: one naming the folder of
        that name in another case (``Query/``) where there is one, else the layout's."""
        if osp.isdir(self.data_root):
            for entry in _visible_entries(self.data_root):
                if entry.name.lower() == split and is_folder(entry):
                    return DatasetError(f'{self.dataset_name}: {folder} not found, but '
                                        f'{entry.path} is there; split folders are named in '
                                        f'lower case: rename it {split}')
        return self.missing_path_error(folder)

    def _images(self, person_folder: str, unread: 'UnreadEntries') -> list[str]:
        """The names of the images directly in ``person_folder``; an error naming it if it
        holds none, which would silently drop its identity. Its images under other suffixes
        and its subfolders of images are added to ``unread``."""
        entries = _visible_entries(person_folder)
        images = [entry.name for entry in entries if _is_image(entry, self.suffixes)]
        if not images:
            raise self._no_image_error(person_folder,
                                       [entry.name for entry in entries if is_folder(entry)])
        unread.images.extend(entry.path for entry in entries
                             if is_unlisted_image(entry, self.suffixes))
        unread.dangling_links.extend(entry.path for entry in entries if is_dangling_link(entry))
        unread.subfolders.extend(entry.path for entry in entries
                                 if is_folder(entry) and holds_image(entry.path))
        return images

    def _warn_of_unread(self, split_folder: str, unread: 'UnreadEntries') -> None:
        """Log one warning each for what the person folders under ``split_folder`` hold
        and is not read: images under another suffix, images in subfolders, and links (to a
        person folder or an image) that lead nowhere."""
        where = f'{self.dataset_name}, the person folders of {split_folder}'
        notices = [files_not_read_notice(unread.images, self.suffixes, where)]
        if unread.subfolders:
            notices.append(f'{where}: {len(unread.subfolders)} subfolder(s) of images not '
                           f'read (the first: {unread.subfolders[0]}); only the images '
                           f'directly in a person folder are read: move them up into it '
                           f"(camera_pattern reads each image's camera from its file name)")
        if unread.dangling_links:
            notices.append(dangling_links_sentence(where, unread.dangling_links))
        for notice in filter(None, notices):
            print_log(notice, logger='current', level=logging.WARNING)

    def _no_image_error(self, person_folder: str, subfolders: list[str]) -> DatasetError:
        """The error for a person folder without an image directly in it, naming the
        subfolders (such as one per camera) whose images are not read."""
        start = f'{self.dataset_name}: the person folder {person_folder} holds no image'
        if subfolders:
            listed = first_listed(subfolders, MAX_LISTED_SUBFOLDERS)
            return DatasetError(f'{start} directly, only the subfolders {listed}, which are '
                                f'not read; move their images up into {person_folder} '
                                f"(camera_pattern reads each image's camera from its file "
                                f'name)')
        return DatasetError(f'{start} (a file ending in {", ".join(self.suffixes)}); put the '
                            f"person's images directly in it, or remove it")

    def _camera(self, person_folder: str, name: str) -> int:
        if self.camera_pattern is None:
            return 0
        match = self.camera_pattern.search(name)
        camera = None if match is None else parse_integer(match['camera'])
        if camera is None:
            found = 'does not match' if match is None else f'gives camera {match["camera"]!r} in'
            raise DatasetError(f"{self.dataset_name}: camera_pattern "
                               f"r'{self.camera_pattern.pattern}' {found} the file name of "
                               f'{osp.join(person_folder, name)}; every image name must give '
                               f'an integer camera, or set camera_pattern=None for camera 0')
        if not fits_int64(camera):
            raise DatasetError(f"{self.dataset_name}: camera_pattern "
                               f"r'{self.camera_pattern.pattern}' gives camera {camera} in the "
                               f'file name of {osp.join(person_folder, name)}, outside '
                               f'{INT64_RANGE}; rename the file with a smaller camera number')
        return camera


class UnreadEntries(NamedTuple):
    """Paths of a split that are not read: in its person folders, ``images`` under another
    suffix (:func:`~rga_mm.datasets.folder_listing.is_unlisted_image`) and ``subfolders``
    holding images; person folders and images that are ``dangling_links``."""
    images: list[str]
    subfolders: list[str]
    dangling_links: list[str]


def image_suffixes(suffixes: object, dataset_name: str) -> tuple[str, ...]:
    """``suffixes`` in lower case, or one sentence unless it is a non-empty list or tuple
    of file name suffixes each a dot and at least one character (``['.jpg', '.png']``): a
    string would be read as its characters, and a suffix without its dot would match
    ``xjpg`` too."""
    example = "e.g. suffixes=['.jpg', '.png']"
    if not isinstance(suffixes, (list, tuple)) or not suffixes:
        raise ConfigError(f'{dataset_name}: suffixes must be a non-empty list of file name '
                          f'suffixes ({example}), got {suffixes!r}')
    for suffix in suffixes:
        if not (isinstance(suffix, str) and suffix.startswith('.') and len(suffix) > 1
                and suffix.count('.') == 1 and not any(sep in suffix for sep in '/\\')):
            raise ConfigError(f'{dataset_name}: every suffix is a dot and a file name '
                              f'ending ({example}), got {suffix!r} in suffixes={suffixes!r}')
    return tuple(suffix.lower() for suffix in suffixes)


def _check_each_file_once(root: str, suffixes: tuple[str, ...], dataset_name: str) -> None:
    """Refuse two image paths of one file (a person folder or an image that is a symbolic
    link to another, or a hard link of an image) under the split folders of ``root``: in
    one split the file would count under two identities, or twice under one; in two, a
    query would match itself in the gallery, or the test score an image trained on
    (:func:`~rga_mm.datasets.custom_reid.cross_split_clause`). Files are compared by device
    and inode (:func:`~rga_mm.datasets.folder_listing.file_id`), one ``os.stat`` per image."""
    first_of = {}  # file_id → (split, path) of the file's first image path
    for split, path in _split_images(root, suffixes):
        file = file_id(os.stat(path))
        if file in first_of:
            first_split, first_path = first_of[file]
            raise DatasetError(f'{dataset_name}: {path} and {first_path} are the same file '
                               f'(through a symbolic or hard link)'
                               f'{cross_split_clause(first_split, split)}; each image belongs '
                               f'in one person folder, once')
        first_of[file] = split, path


def _split_images(root: str, suffixes: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(split, path) of the images (:func:`_is_image`) directly in the person folders of
    every split folder of ``root`` that exists, in split, folder and name order: what
    ``load_split`` reads, without its checks, which the loaded splits have passed."""
    for split in SPLIT_FOLDERS:
        folder = osp.join(root, split)
        if not osp.isdir(folder):
            continue
        for person in filter(is_folder, _visible_entries(folder)):
            yield from ((split, image.path) for image in _visible_entries(person.path)
                        if _is_image(image, suffixes))


def _is_image(entry: os.DirEntry, suffixes: tuple[str, ...]) -> bool:
    """Whether ``entry`` of a person folder is an image: a file (links followed) whose name
    ends in one of ``suffixes`` (lower case), in any case."""
    return is_file(entry) and entry.name.lower().endswith(suffixes)


def _visible_entries(folder: str) -> list[os.DirEntry]:
    """The entries of ``folder`` in name order, without hidden ones and OS metadata
    (:func:`~rga_mm.datasets.folder_listing.is_visible`)."""
    with os.scandir(folder) as entries:
        return sorted((entry for entry in entries if is_visible(entry.name)),
                      key=lambda entry: entry.name)
