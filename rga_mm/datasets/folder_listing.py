"""Which entries of a folder are images: one rule for the datasets, the inferencer and the
tools, so that a folder lists the same images wherever it is read."""
import os
from pathlib import Path

# what OpenCV's imread (the datasets' and the inferencer's loading step) decodes
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


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


def image_files(folder: str | Path) -> list[str]:
    """The visible image files of ``folder`` (by suffix, any case), paths in name order.

    A symbolic link is followed; one that leads nowhere (dangling, or a loop of links) is
    left out, and so are hidden entries and OS metadata (:func:`is_visible`).

    Raises:
        ValueError: the folder holds no image file.
    """
    found = sorted(entry.path for entry in os.scandir(folder)
                   if is_visible(entry.name) and Path(entry.name).suffix.lower()
                   in IMAGE_SUFFIXES and is_file(entry))
    if not found:
        raise ValueError(f'folder {folder} holds no image file ({", ".join(IMAGE_SUFFIXES)})')
    return found
