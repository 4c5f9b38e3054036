"""Tiny re-ID dataset trees in the real public layouts (file names, folders, list files),
and the same images rewritten or linked in other ways. Shared by tests in several folders
(importable as ``reid_trees``: tests/conftest.py puts tests/ on ``sys.path``)."""
import shutil
from pathlib import Path

import cv2
import numpy as np

# Market-1501: identity, camera; -1 is junk, 0000 a distractor
MARKET = dict(
    bounding_box_train=['0002_c1s1_000451_03.jpg', '0002_c2s1_000301_01.jpg',
                        '0002_c3s1_000551_01.jpg', '0007_c1s6_028546_01.jpg',
                        '0007_c6s1_001151_02.jpg', '0010_c2s1_001976_04.jpg'],
    query=['0001_c1s1_001051_00.jpg', '0003_c2s1_000301_00.jpg'],
    bounding_box_test=['0001_c2s1_000301_01.jpg', '0001_c1s1_001051_01.jpg',
                       '0003_c3s1_000551_02.jpg', '0000_c1s1_000151_01.jpg',
                       '0000_c4s2_059471_04.jpg', '-1_c1s1_000401_03.jpg',
                       '-1_c5s3_015240_04.jpg', 'Thumbs.db'],
)
DUKE = dict(
    bounding_box_train=['0001_c2_f0046182.jpg', '0001_c5_f0051341.jpg',
                        '0005_c8_f0002470.jpg', '0005_c2_f0070232.jpg'],
    query=['0005_c2_f0046985.jpg'],
    bounding_box_test=['0005_c1_f0045913.jpg', '0019_c7_f0102038.jpg'],
)
CUHK03_NP = dict(
    bounding_box_train=['0001_c1_1.png', '0001_c2_6.png', '0003_c1_2.png', '0003_c2_7.png'],
    query=['0002_c1_1.png', '0004_c2_9.png'],
    bounding_box_test=['0002_c2_6.png', '0004_c1_3.png', '0004_c1_4.png'],
)
# the Market-1501 image folder of each split
MARKET_SPLITS = dict(train='bounding_box_train', query='query', gallery='bounding_box_test')
# MSMT17 list lines: folder/file label
MSMT17 = dict(
    train=['0000/0000_000_01_0303morning_0008_0.jpg 0',
           '0000/0000_001_01_0303morning_0009_1.jpg 0',
           '0001/0001_000_07_0303noon_0020_0.jpg 1'],
    val=['0002/0002_003_15_0303afternoon_0702_0.jpg 2'],
    query=['0000/0000_000_01_0303morning_0015_0.jpg 0',
           '0003/0003_005_12_0304morning_0100_2.jpg 3'],
    gallery=['0000/0000_001_03_0303morning_0016_0.jpg 0',
             '0003/0003_006_04_0304noon_0110_1.jpg 3',
             '0003/0003_007_04_0304noon_0111_0.jpg 3'],
)


def write_image(path: str) -> None:
    """A real 24 × 12 (H × W) jpg/png, with a colour gradient across the width."""
    image = np.full((24, 12, 3), (40, 80, 120), np.uint8)
    image[:, :, 0] = np.linspace(0, 255, 12).astype(np.uint8)
    assert cv2.imwrite(path, image)


def write_tree(root: Path, folders: dict[str, list[str]], images: bool = False) -> Path:
    """Create ``root/folder/name`` for every name; real images or empty files."""
    for folder, names in folders.items():
        for name in names:
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if images and name.endswith(('.jpg', '.png')):
                write_image(str(path))
            else:
                path.touch()
    return root


def write_msmt17(root: Path, image_folders=('train', 'test')) -> str:
    """MSMT17_V1 (``train``/``test``) or V2 (``mask_train_v2``/``mask_test_v2``)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in MSMT17.items():
        (root / f'list_{name}.txt').write_text('\n'.join(lines) + '\n')
        folder = image_folders[0] if name in ('train', 'val') else image_folders[1]
        for line in lines:
            path = root / folder / line.split()[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return str(root)


def market_as_folders(market: Path, root: Path) -> str:
    """The Market-1501 images of ``market`` copied into ``<root>/<split>/<person_id>/<name>``
    (the ``CustomReIDFolders`` layout); the person folder is the name's identity field."""
    for split, folder in MARKET_SPLITS.items():
        for path in (market / folder).glob('*.jpg'):
            person = root / split / path.name.split('_')[0]
            person.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, person / path.name)
    return str(root)


def add_links_that_lead_nowhere(folder: Path) -> None:
    """A loop of two links (``loopB.jpg`` → ``loopA`` → ``loopB.jpg``) and a dangling link
    (``dangling.jpg`` → ``nowhere.jpg``) in ``folder``."""
    (folder / 'loopB.jpg').symlink_to('loopA')
    (folder / 'loopA').symlink_to('loopB.jpg')
    (folder / 'dangling.jpg').symlink_to('nowhere.jpg')
