"""Writing the planned, rendered dataset as a Market-1501 folder with a manifest
(:func:`generate_synthetic_market`), and leaving a complete one untouched.

The manifest (``synthetic_manifest.json``) holds the parameters and the images per split; it
is written first marked incomplete and rewritten complete after the last image, so an
interrupted run is recognised and redone.
"""
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
from mmengine.logging import print_log

from ..datasets.market_style import SPLIT_FOLDERS
from ..datasets.market_style import SYNTHETIC_MANIFEST as MANIFEST_NAME
from .plan import ImageRecord, check_parameters, plan_dataset, split_statistics
from .render import render_record
from .world import Appearance, Camera, sample_world

DATASET_FOLDER = 'Market-1501-v15.09.15'
GENERATOR_VERSION = 1
JPEG_QUALITY = 90


def _ints(values: Sequence[int]) -> tuple[int, ...]:
    """``values`` as a tuple of Python ints (numpy ints and lists accepted)."""
    return tuple(int(value) for value in values)


@dataclass
class _Parameters:
    """What to generate: the arguments of :func:`generate_synthetic_market` that shape the
    dataset, (min, max) pairs and ``image_size`` as int tuples, checked on creation."""

    num_train_ids: int
    num_test_ids: int
    num_cameras: int
    cameras_per_id: tuple[int, int]
    images_per_camera: tuple[int, int]
    query_cameras_per_id: tuple[int, int]
    image_size: tuple[int, int]
    num_distractors: int
    num_junk: int
    seed: int

    def __post_init__(self) -> None:
        """Normalise the pairs to int tuples and raise ValueError for impossible values."""
        self.cameras_per_id = _ints(self.cameras_per_id)
        self.images_per_camera = _ints(self.images_per_camera)
        self.query_cameras_per_id = _ints(self.query_cameras_per_id)
        self.image_size = _ints(self.image_size)
        check_parameters(self.num_train_ids, self.num_test_ids, self.num_cameras,
                         self.cameras_per_id, self.images_per_camera,
                         self.query_cameras_per_id, self.image_size, self.num_distractors,
                         self.num_junk)

    def to_manifest(self) -> dict:
        """The ``parameters`` entry of the manifest: JSON types, with the generator version."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in values.items()} | dict(version=GENERATOR_VERSION)


@dataclass(frozen=True)
class _Plan:
    """The dataset before any pixel is drawn: cameras, identities' clothing, and files."""

    cameras: dict[int, Camera]
    appearances: dict[int, Appearance]
    records: list[ImageRecord]


def _read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder``, or None if it is missing or unreadable."""
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(folder: Path, parameters: dict) -> bool:
    """Whether ``folder`` holds a finished dataset of exactly these parameters."""
    manifest = _read_manifest(folder)
    if not manifest or not manifest.get('complete') or manifest['parameters'] != parameters:
        return False
    for split, folder_name in SPLIT_FOLDERS.items():
        split_folder = folder / folder_name
        on_disk = sum(1 for _ in split_folder.glob('*.jpg')) if split_folder.is_dir() else -1
        if on_disk != manifest['splits'][split]['images']:
            return False
    return True


def _clear(folder: Path, overwrite: bool) -> None:
    """Remove an earlier synthetic dataset (or anything, with ``overwrite``) from ``folder``.

    Raises:
        FileExistsError: the split folders hold images and there is no manifest: they were
            not written by this generator (perhaps the real Market-1501).
    """
    ours = (folder / MANIFEST_NAME).is_file()
    split_folders = [folder / name for name in SPLIT_FOLDERS.values()]
    foreign = [str(path) for path in split_folders if path.is_dir() and any(path.iterdir())]
    if foreign and not ours and not overwrite:
        raise FileExistsError(
            f'{folder} holds images in {", ".join(foreign)} but no {MANIFEST_NAME}: they '
            'were not written by generate_synthetic_market (perhaps the real Market-1501). '
            'Choose another root or pass overwrite=True (--overwrite) to replace them.')
    for path in split_folders:
        if path.is_dir():
            shutil.rmtree(path)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)


def _write_manifest(folder: Path, parameters: dict, complete: bool,
                    records: Sequence[ImageRecord] = ()) -> None:
    """Write the manifest: generator, ``complete`` flag, parameters and split statistics."""
    manifest = dict(generator='rga_mm.synthetic', version=GENERATOR_VERSION,
                    complete=complete, parameters=parameters,
                    splits=split_statistics(records))
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + '\n')


def _start_folder(folder: Path, parameters: _Parameters, overwrite: bool) -> None:
    """Empty ``folder`` (see :func:`_clear`) and mark it as an incomplete dataset of
    ``parameters``."""
    _clear(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    _write_manifest(folder, parameters.to_manifest(), complete=False)


def _plan(parameters: _Parameters) -> _Plan:
    """Sample the world and lay out every file, all from ``parameters.seed``."""
    rng = np.random.default_rng(parameters.seed)
    cameras, appearances = sample_world(rng, parameters.num_cameras,
                                        parameters.num_train_ids + parameters.num_test_ids)
    records = plan_dataset(parameters.num_train_ids, parameters.num_test_ids,
                           parameters.num_cameras, parameters.cameras_per_id,
                           parameters.images_per_camera, parameters.query_cameras_per_id,
                           parameters.num_distractors, parameters.num_junk, rng)
    return _Plan(cameras, appearances, records)


def _write_images(folder: Path, plan: _Plan, image_size: tuple[int, int]) -> None:
    """Create the split folders and render every planned file into them as a JPEG.

    Raises:
        OSError: OpenCV could not write an image.
    """
    for name in SPLIT_FOLDERS.values():
        (folder / name).mkdir()
    for record in plan.records:
        image = render_record(record, plan.appearances, plan.cameras, image_size)
        path = folder / record.folder / record.name
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f'could not write {path}')


def describe(folder: Path) -> str:
    """One line: identities and images per split, from the manifest of ``folder``."""
    manifest = _read_manifest(Path(folder))
    if manifest is None:
        raise FileNotFoundError(f'{folder}/{MANIFEST_NAME} not found')
    splits = manifest['splits']
    return ', '.join(f'{split} {counts["identities"]} ids / {counts["images"]} images'
                     for split, counts in splits.items()) + \
        ' (gallery ids include 0000 distractors and -1 junk)'


def generate_synthetic_market(root: str,
                              num_train_ids: int = 60,
                              num_test_ids: int = 60,
                              num_cameras: int = 6,
                              cameras_per_id: tuple[int, int] = (3, 5),
                              images_per_camera: tuple[int, int] = (2, 5),
                              query_cameras_per_id: tuple[int, int] = (2, 3),
                              image_size: tuple[int, int] = (128, 64),
                              num_distractors: int = 60,
                              num_junk: int = 30,
                              seed: int = 0,
                              overwrite: bool = False) -> Path:
    """Write a synthetic Market-1501 under ``root`` and return its folder.

    Each identity walks past ``cameras_per_id`` (min, max) of the ``num_cameras`` cameras
    and is caught in ``images_per_camera`` (min, max) frames by each. Train and test
    identities are disjoint. Of a test identity, one frame of each of
    ``query_cameras_per_id`` (min, max; at most all) of its cameras is a query; every other
    frame is in the gallery, which therefore holds a match from another camera for every
    query. The gallery also gets ``num_distractors`` images of id 0000 (badly framed
    strangers) and ``num_junk`` of id -1 (background, body fragments).
    The defaults give about 1,800 images (60 + 60 ids, ~14 images each) in a few seconds.

    The call is idempotent: if ``{root}/Market-1501-v15.09.15`` already holds a complete
    dataset of the same parameters (its ``synthetic_manifest.json`` says so and the file
    counts agree), it returns at once without touching a file. A synthetic dataset of other
    parameters, or an interrupted one, is deleted and written anew. Split folders with
    images but no manifest (not ours: perhaps the real dataset) raise FileExistsError,
    unless ``overwrite`` is True.

    Args:
        root: the folder that receives ``Market-1501-v15.09.15/``.
        image_size: (H, W) of every image.
        seed: everything (identities, cameras, names, pixels) follows from it.

    Returns:
        ``{root}/Market-1501-v15.09.15``, usable as ``data_root`` of ``Market1501``.
    """
    parameters = _Parameters(num_train_ids, num_test_ids, num_cameras, cameras_per_id,
                             images_per_camera, query_cameras_per_id, image_size,
                             num_distractors, num_junk, seed)
    folder = Path(root) / DATASET_FOLDER
    if _is_complete(folder, parameters.to_manifest()):
        print_log(f'Synthetic Market-1501 at {folder} is complete; not regenerated',
                  logger='current')
        return folder

    _start_folder(folder, parameters, overwrite)
    plan = _plan(parameters)
    print_log(f'Generating a synthetic Market-1501 ({len(plan.records)} images) in {folder}',
              logger='current')
    start = time.perf_counter()
    _write_images(folder, plan, parameters.image_size)
    _write_manifest(folder, parameters.to_manifest(), complete=True, records=plan.records)
    print_log(f'Wrote {len(plan.records)} images in {time.perf_counter() - start:.1f} s',
              logger='current')
    return folder
