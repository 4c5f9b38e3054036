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
from pathlib import Path

import cv2
import numpy as np
from mmengine.logging import print_log

from ..datasets.market_style import SPLIT_FOLDERS
from .plan import ImageRecord, check_parameters, plan_dataset, split_statistics
from .render import render_record
from .world import sample_world

DATASET_FOLDER = 'Market-1501-v15.09.15'
MANIFEST_NAME = 'synthetic_manifest.json'
GENERATOR_VERSION = 1
JPEG_QUALITY = 90


def _read_manifest(folder: Path) -> dict | None:
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
    manifest = dict(generator='rga_mm.synthetic', version=GENERATOR_VERSION,
                    complete=complete, parameters=parameters,
                    splits=split_statistics(records))
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + '\n')


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
    cameras_per_id, images_per_camera, query_cameras_per_id, image_size = (
        tuple(int(v) for v in pair) for pair in
        (cameras_per_id, images_per_camera, query_cameras_per_id, image_size))
    check_parameters(num_train_ids, num_test_ids, num_cameras, cameras_per_id,
                     images_per_camera, query_cameras_per_id, image_size, num_distractors,
                     num_junk)
    parameters = dict(num_train_ids=num_train_ids, num_test_ids=num_test_ids,
                      num_cameras=num_cameras, cameras_per_id=list(cameras_per_id),
                      images_per_camera=list(images_per_camera),
                      query_cameras_per_id=list(query_cameras_per_id),
                      image_size=list(image_size), num_distractors=num_distractors,
                      num_junk=num_junk, seed=seed, version=GENERATOR_VERSION)
    folder = Path(root) / DATASET_FOLDER
    if _is_complete(folder, parameters):
        print_log(f'Synthetic Market-1501 at {folder} is complete; not regenerated',
                  logger='current')
        return folder

    _clear(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    _write_manifest(folder, parameters, complete=False)
    rng = np.random.default_rng(seed)
    cameras, appearances = sample_world(rng, num_cameras, num_train_ids + num_test_ids)
    records = plan_dataset(num_train_ids, num_test_ids, num_cameras, cameras_per_id,
                           images_per_camera, query_cameras_per_id, num_distractors, num_junk,
                           rng)
    print_log(f'Generating a synthetic Market-1501 ({len(records)} images) in {folder}',
              logger='current')
    start = time.perf_counter()
    for name in SPLIT_FOLDERS.values():
        (folder / name).mkdir()
    for record in records:
        image = render_record(record, appearances, cameras, image_size)
        path = folder / record.folder / record.name
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f'could not write {path}')
    _write_manifest(folder, parameters, complete=True, records=records)
    print_log(f'Wrote {len(records)} images in {time.perf_counter() - start:.1f} s',
              logger='current')
    return folder
