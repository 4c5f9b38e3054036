"""Which entries of a folder are images: one rule for the datasets, the inferencer and the
tools, so that a folder lists the same images wherever it is read."""
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2

# the raster formats OpenCV's imread (the datasets' and the inferencer's loading step)
# decodes, by their usual suffixes; other files it recognises are named, not listed
# (:func:`unlisted_images_notice`)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.bmp', '.dib', '.tif', '.tiff',
                  '.webp', '.gif', '.avif', '.jp2', '.pbm', '.pgm', '.ppm', '.pnm')


def file_id(stat: os.stat_result) -> tuple[int, int]:
    """(device, inode) of a file's ``os.stat`` result (which follows symbolic links): equal
    for two paths of one file, through a symbolic link to the file or its folder, or a hard
    link, as ``os.path.samefile`` compares them; a copy is another file."""
    return stat.st_dev, stat.st_ino


def every_entry(folder: str | Path) -> str:
    """The shell glob of every entry of ``folder``, its path quoted for a POSIX shell
    (``'my data/gallery'/*``) so that a suggested command can be pasted."""
    return f'{shlex.quote(str(folder))}{os.sep}*'


def is_visible(name: str) -> bool:
    """Whether a folder entry is data rather than hidden or OS metadata: names starting
    with '.' (macOS ``._*`` AppleDouble files and ``.DS_Store``, ``.ipynb_checkpoints``)
    and the ``__MACOSX`` folder of archives made on macOS are not."""
    return not name.startswith('.') and name != '__MACOSX'


def is_file(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a file, following links; False for a dangling link or a loop of
    links (where ``DirEntry.is_file`` raises)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def is_folder(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder, following links; False where :func:`is_file` is."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def is_dangling_link(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a symbolic link that leads nowhere (to a missing path, such as
    an unmounted drive, or into a loop of links)."""
    return entry.is_symlink() and not (is_file(entry) or is_folder(entry))


def is_image_file(entry: os.DirEntry, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether ``entry`` is a visible (:func:`is_visible`) image file, by suffix in any
    case (``suffixes`` in lower case), following links (:func:`is_file`)."""
    return (is_visible(entry.name) and Path(entry.name).suffix.lower() in suffixes
            and is_file(entry))


def is_unlisted_image(entry: os.DirEntry, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether ``entry`` is a visible file without one of ``suffixes`` whose first bytes
    OpenCV recognises as an image it decodes (``cv2.haveImageReader``: a JPEG saved as
    ``photo``, an ``.jpg_large``): an image a listing by suffix would drop unseen. A path
    that is no UTF-8 (the GBK name of a file unpacked from a Windows archive, which Python
    holds with surrogate escapes) is not looked into: OpenCV crashes the process on it."""
    return (is_visible(entry.name) and Path(entry.name).suffix.lower() not in suffixes
            and is_file(entry) and is_utf8(entry.path) and cv2.haveImageReader(entry.path))


def is_utf8(path: str) -> bool:
    """Whether ``path`` is valid UTF-8, i.e. holds no surrogate escape of an undecodable
    byte."""
    try:
        path.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def unlisted_images(folder: str | Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[str]:
    """The paths of :func:`is_unlisted_image` entries of ``folder``, in name order."""
    with os.scandir(folder) as entries:
        return sorted(entry.path for entry in entries if is_unlisted_image(entry, suffixes))


def unlisted_images_notice(folder: str | Path) -> str | None:
    """One sentence naming how many images of ``folder`` are not read for their suffix
    (:func:`is_unlisted_image`), and the first; None where there are none."""
    return files_not_read_notice(unlisted_images(folder), IMAGE_SUFFIXES, str(folder))


def files_not_read_notice(paths: Sequence[str], suffixes: Sequence[str],
                          where: str) -> str | None:
    """One sentence, starting with ``where``, naming how many of the image files ``paths``
    are not read for a suffix other than ``suffixes``, and the first; None for no paths."""
    if not paths:
        return None
    return (f'{where}: {len(paths)} image file(s) not read, their names ending in none of '
            f'{", ".join(suffixes)} (the first: {paths[0]}); rename them to one of these '
            f'suffixes to read them')


def dangling_links(folder: str | Path) -> list[str]:
    """The paths of the visible entries of ``folder`` that are :func:`is_dangling_link`, in
    name order: what they lead to (an image, a subfolder) cannot be read."""
    with os.scandir(folder) as entries:
        return sorted(entry.path for entry in entries
                      if is_visible(entry.name) and is_dangling_link(entry))


def dangling_links_sentence(where: str | Path, links: Sequence[str]) -> str:
    """One sentence opening with ``where`` that names how many of the symbolic ``links``
    (at least one) lead nowhere and are not read, and the first with where it points."""
    try:
        target = os.readlink(links[0])
    except OSError:  # removed since
        target = 'nowhere'
    return (f'{where}: {len(links)} link(s) that lead nowhere not read (the first: '
            f'{links[0]} → {target}); mount or restore what they point to (an unmounted '
            f'drive?), or remove them')


def dangling_links_notice(folder: str | Path) -> str | None:
    """:func:`dangling_links_sentence` for the symbolic links of ``folder`` that lead
    nowhere (:func:`dangling_links`), which :func:`image_files` leaves out; None where none
    does."""
    links = dangling_links(folder)
    return dangling_links_sentence(folder, links) if links else None


def image_files(folder: str | Path) -> list[str]:
    """The visible image files of ``folder`` (by suffix, any case), paths in name order.

    A symbolic link is followed; one that leads nowhere (dangling, or a loop of links) is
    left out (:func:`dangling_links_notice` tells a user about them), and so are hidden
    entries and OS metadata (:func:`is_visible`). Subfolders are not read
    (:func:`unread_subfolders_notice` tells a user about their images).

    Raises:
        ValueError: the folder holds no image file; where its subfolders hold images (one
            folder per person), the message says to give those instead.
    """
    found = sorted(entry.path for entry in os.scandir(folder) if is_image_file(entry))
    if not found:
        message = f'folder {folder} holds no image file ({", ".join(IMAGE_SUFFIXES)})'
        subfolders = image_subfolders(folder)
        if subfolders:
            message += (f', only subfolders of images (the first: {subfolders[0]}), which are '
                        f'not read: give those subfolders instead (e.g. '
                        f'{every_entry(folder)})')
        raise ValueError(message)
    return found


def holds_image(folder: str | Path) -> bool:
    """Whether ``folder`` holds an image file directly (:func:`is_image_file`); False for
    a folder that cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return any(map(is_image_file, entries))
    except OSError:
        return False


def image_subfolders(folder: str | Path) -> list[str]:
    """The visible subfolders of ``folder`` (links followed) that hold an image file
    directly, paths in name order: the images :func:`image_files` does not list."""
    return sorted(entry.path for entry in os.scandir(folder)
                  if is_visible(entry.name) and is_folder(entry) and holds_image(entry.path))


def unread_subfolders_notice(folder: str | Path) -> str | None:
    """One sentence naming how many subfolders of ``folder`` hold images that
    :func:`image_files` leaves out, and the first of them; None where none does."""
    subfolders = image_subfolders(folder)
    if not subfolders:
        return None
    count = ('1 subfolder' if len(subfolders) == 1 else f'{len(subfolders)} subfolders')
    return (f'{folder} has {count} of images that are not read (the first: {subfolders[0]}): '
            f'only the images directly in a folder are read; move them up, or give such a '
            f'subfolder as a folder of its own')


def image_files_with_notice(folder: str | Path, tell: Callable[[str], object]) -> list[str]:
    """:func:`image_files` of ``folder``, after passing :func:`unread_subfolders_notice`,
    :func:`unlisted_images_notice` and :func:`dangling_links_notice` to ``tell``
    (``print``, ``warnings.warn``) where its subfolders hold images, it holds images under
    other suffixes, or links of it lead nowhere. A folder without images is refused
    (:func:`image_files`) after the last two notices but before the first: the refusal
    names its subfolders of images itself."""
    for notice in (unlisted_images_notice(folder), dangling_links_notice(folder)):
        if notice is not None:
            tell(notice)
    found = image_files(folder)
    subfolders = unread_subfolders_notice(folder)
    if subfolders is not None:
        tell(subfolders)
    return found


def image_paths(path: str | Path, tell: Callable[[str], object]) -> list[str]:
    """The images a path given as input stands for: a folder's
    :func:`image_files_with_notice` (``tell`` names its subfolders of images), else ``path``
    itself as a string."""
    if os.path.isdir(path):
        return image_files_with_notice(path, tell)
    return [str(path)]


def listed_images(paths: Iterable[str | Path], tell: Callable[[str], object],
                  missing: Callable[[str], BaseException]) -> list[str]:
    """The :func:`image_paths` of ``paths``, in order; raises ``missing(path)`` for the first
    path that is neither a file nor a folder.

    Raises:
        ValueError: a folder holds no image file (:func:`image_files`).
    """
    images = []
    for path in paths:
        if not (os.path.isfile(path) or os.path.isdir(path)):
            raise missing(str(path))
        images.extend(image_paths(path, tell))
    return images
