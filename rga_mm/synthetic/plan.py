"""The dataset before any pixel is drawn: which identity is seen by which camera, how often,
in which split and under which Market-1501 file name (:func:`plan_dataset`).

Train and test identities are disjoint; each test identity gives one query per query camera
and leaves its other images in the gallery, next to distractors (id 0000) and junk (id -1).
"""
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..datasets.market_style import SPLIT_FOLDERS


@dataclass(frozen=True)
class ImageRecord:
    """One file to write: where, who, which camera, and the seed of its render."""

    folder: str
    name: str
    identity: int
    camera: int
    seed: int
    kind: str = 'person'  # 'person', 'distractor' or 'junk'


def check_parameters(num_train_ids: int, num_test_ids: int, num_cameras: int,
                     cameras_per_id: tuple[int, int], images_per_camera: tuple[int, int],
                     query_cameras_per_id: tuple[int, int],
                     image_size: tuple[int, int], num_distractors: int = 0,
                     num_junk: int = 0) -> None:
    """Raise ValueError for parameters that cannot give a Market-style dataset."""
    problems = []
    if num_train_ids < 1 or num_test_ids < 1 or num_train_ids + num_test_ids > 9999:
        problems.append(f'num_train_ids ({num_train_ids}) and num_test_ids ({num_test_ids}) '
                        'must be >= 1 and sum to at most 9999 (4-digit ids)')
    if not 2 <= num_cameras <= 9:
        problems.append(f'num_cameras must be 2..9 (one digit in c{{camera}}), got '
                        f'{num_cameras}')
    if not 2 <= cameras_per_id[0] <= cameras_per_id[1] <= num_cameras:
        problems.append(f'cameras_per_id {cameras_per_id} must satisfy 2 <= min <= max <= '
                        f'num_cameras ({num_cameras}), so that queries have a cross-camera '
                        'match')
    if not 2 <= images_per_camera[0] <= images_per_camera[1]:
        problems.append(f'images_per_camera {images_per_camera} needs 2 <= min <= max: a '
                        'query takes one image of a camera and leaves one in the gallery')
    if not 1 <= query_cameras_per_id[0] <= min(query_cameras_per_id[1], cameras_per_id[0]):
        problems.append(f'query_cameras_per_id {query_cameras_per_id} must satisfy 1 <= min '
                        f'<= max and min <= min(cameras_per_id) ({cameras_per_id[0]})')
    if image_size[0] < 32 or image_size[1] < 16:
        problems.append(f'image_size (H, W) must be at least (32, 16), got {image_size}')
    if num_distractors < 0 or num_junk < 0:
        problems.append(f'num_distractors ({num_distractors}) and num_junk ({num_junk}) '
                        'must be >= 0')
    if problems:
        raise ValueError('generate_synthetic_market: ' + '; '.join(problems))


def _split_identities(num_train_ids: int, num_test_ids: int,
                      rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Ids 1..train+test, shuffled into disjoint train and test sets (interleaved, as in
    Market), each sorted."""
    ids = rng.permutation(np.arange(1, num_train_ids + num_test_ids + 1))
    return (sorted(int(i) for i in ids[:num_train_ids]),
            sorted(int(i) for i in ids[num_train_ids:]))


class _NameMaker:
    """Market file names ``{id}_c{camera}s{sequence}_{frame:06d}_{box:02d}.jpg``.

    An identity has one tracklet per camera, so its names cannot collide; the many images
    of ids 0000 and -1 are kept unique with a set.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used = set()

    def tracklet(self, identity: int, camera: int, count: int) -> list[tuple[str, str]]:
        """``count`` frames of one walk past a camera, every 25th frame apart or more:
        (name with box 00, name with a detector box 01..04) per frame; queries take the
        first (Market's hand-drawn query boxes are box 00), everything else the second."""
        sequence = int(self.rng.integers(1, 7))
        start = int(self.rng.integers(0, 6000)) * 25 + 1
        steps = np.sort(self.rng.choice(max(40, 2 * count), count, replace=False))
        stems = [self._stem(identity, camera, sequence, start + 25 * int(step))
                 for step in steps]
        return [(f'{stem}_00.jpg', f'{stem}_{self._box():02d}.jpg') for stem in stems]

    def single(self, identity: int, camera: int) -> str:
        """A detector box name not used before (distractors, junk)."""
        while True:
            frame = int(self.rng.integers(0, 40000)) * 5 + 1
            stem = self._stem(identity, camera, int(self.rng.integers(1, 7)), frame)
            name = f'{stem}_{self._box():02d}.jpg'
            if name not in self.used:
                self.used.add(name)
                return name

    def _box(self) -> int:
        return int(self.rng.integers(1, 5))

    @staticmethod
    def _stem(identity: int, camera: int, sequence: int, frame: int) -> str:
        person = '-1' if identity == -1 else f'{identity:04d}'
        return f'{person}_c{camera}s{sequence}_{frame:06d}'


def _identity_records(identity: int, is_test: bool, num_cameras: int,
                      cameras_per_id: tuple[int, int], images_per_camera: tuple[int, int],
                      query_cameras_per_id: tuple[int, int], names: _NameMaker,
                      rng: np.random.Generator) -> list[ImageRecord]:
    """All images of one identity: train images, or one query per query camera and the
    rest in the gallery."""
    count = int(rng.integers(cameras_per_id[0], cameras_per_id[1] + 1))
    cameras = sorted(int(c) for c in rng.choice(np.arange(1, num_cameras + 1), count, False))
    num_queries = min(count, int(rng.integers(query_cameras_per_id[0],
                                              query_cameras_per_id[1] + 1)))
    query_cameras = set(int(c) for c in rng.choice(cameras, num_queries, replace=False))
    records = []
    for camera in cameras:
        frames = names.tracklet(
            identity, camera, int(rng.integers(images_per_camera[0], images_per_camera[1] + 1)))
        for index, (query_name, box_name) in enumerate(frames):
            if not is_test:
                folder, name = SPLIT_FOLDERS['train'], box_name
            elif camera in query_cameras and index == 0:
                folder, name = SPLIT_FOLDERS['query'], query_name
            else:
                folder, name = SPLIT_FOLDERS['gallery'], box_name
            records.append(
                ImageRecord(folder, name, identity, camera, int(rng.integers(2**31))))
    return records


def plan_dataset(num_train_ids: int, num_test_ids: int, num_cameras: int,
                 cameras_per_id: tuple[int, int], images_per_camera: tuple[int, int],
                 query_cameras_per_id: tuple[int, int], num_distractors: int, num_junk: int,
                 rng: np.random.Generator) -> list[ImageRecord]:
    """Every file of the dataset, before any is drawn (see :func:`generate_synthetic_market`
    for the arguments)."""
    train_ids, test_ids = _split_identities(num_train_ids, num_test_ids, rng)
    names = _NameMaker(rng)
    records = []
    test_set = set(test_ids)
    for identity in sorted(train_ids + test_ids):
        records += _identity_records(identity, identity in test_set, num_cameras,
                                     cameras_per_id, images_per_camera, query_cameras_per_id,
                                     names, rng)
    for kind, identity, count in (('distractor', 0, num_distractors), ('junk', -1, num_junk)):
        for _ in range(count):
            camera = int(rng.integers(1, num_cameras + 1))
            records.append(ImageRecord(SPLIT_FOLDERS['gallery'], names.single(identity, camera),
                                       identity, camera, int(rng.integers(2**31)), kind))
    return records


def split_statistics(records: Sequence[ImageRecord]) -> dict[str, dict[str, int]]:
    """Per split (``train``, ``query``, ``gallery``): identities and images, junk included."""
    statistics = {}
    for split, folder_name in SPLIT_FOLDERS.items():
        chosen = [record for record in records if record.folder == folder_name]
        statistics[split] = dict(identities=len({record.identity for record in chosen}),
                                 images=len(chosen))
    return statistics
