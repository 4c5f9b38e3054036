"""The synthetic Market-1501 (rga_mm.synthetic): layout, protocol, determinism,
idempotence, and that its identities are learnable but not trivial."""
import json
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from rga_mm.datasets import Market1501
from rga_mm.errors import DatasetError
from rga_mm.synthetic import (
    DATASET_FOLDER,
    MANIFEST_NAME,
    Camera,
    generate_synthetic_market,
    render_person,
    sample_appearance,
    sample_camera,
)
from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
# the real Market-1501 file names: identity (or -1 for junk), camera, sequence, frame, box
MARKET_NAME = re.compile(
    r'(?P<identity>-1|\d{4})_c(?P<camera>[1-6])s(?P<sequence>[1-6])_(?P<frame>\d{6})'
    r'_(?P<box>\d{2})\.jpg')
SPLITS = dict(train='bounding_box_train', query='query', gallery='bounding_box_test')
SMALL = dict(num_train_ids=6, num_test_ids=8, num_cameras=4, cameras_per_id=(2, 3),
             images_per_camera=(2, 3), query_cameras_per_id=(1, 2), image_size=(64, 32),
             num_distractors=5, num_junk=4)

Entry = tuple[int, int, str]  # identity, camera, file name


@pytest.fixture(scope='module')
def small(tmp_path_factory) -> Path:
    return generate_synthetic_market(tmp_path_factory.mktemp('small'), **SMALL)


def entries(folder: Path, split: str) -> list[Entry]:
    """(identity, camera, name) of every image of a split, parsed from the file names."""
    found = []
    for path in sorted((folder / SPLITS[split]).iterdir()):
        match = MARKET_NAME.fullmatch(path.name)
        assert match, f'{path.name} is not a Market-1501 file name'
        found.append((int(match['identity']), int(match['camera']), path.name))
    return found


def identities(items: list[Entry]) -> set:
    return {identity for identity, _, _ in items}


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob('*.jpg'))}


def test_layout_is_market_1501s_folders_and_file_names(small):
    assert small.name == DATASET_FOLDER
    assert sorted(path.name for path in small.iterdir()) == sorted(
        [*SPLITS.values(), MANIFEST_NAME])
    for split in SPLITS:
        assert entries(small, split)  # every name parses
    assert all(name.endswith('_00.jpg') for _, _, name in entries(small, 'query'))
    image = cv2.imread(str(small / 'query' / entries(small, 'query')[0][2]))
    assert image.shape == (*SMALL['image_size'], 3)


def test_split_sizes_follow_the_parameters(small):
    train, query, gallery = (entries(small, split) for split in SPLITS)
    assert len(identities(train)) == SMALL['num_train_ids']
    assert len(identities(query)) == SMALL['num_test_ids']
    assert sum(identity == 0 for identity, _, _ in gallery) == SMALL['num_distractors']
    assert sum(identity == -1 for identity, _, _ in gallery) == SMALL['num_junk']

    images_of = defaultdict(lambda: defaultdict(int))  # identity -> camera -> images
    for identity, camera, _ in train + query + gallery:
        if identity > 0:
            images_of[identity][camera] += 1
    for per_camera in images_of.values():
        assert SMALL['cameras_per_id'][0] <= len(per_camera) <= SMALL['cameras_per_id'][1]
        assert all(SMALL['images_per_camera'][0] <= count <= SMALL['images_per_camera'][1]
                   for count in per_camera.values())
    queries_of = defaultdict(list)
    for identity, camera, _ in query:
        queries_of[identity].append(camera)
    for cameras in queries_of.values():
        assert len(set(cameras)) == len(cameras)  # one query per camera
        assert SMALL['query_cameras_per_id'][0] <= len(cameras) <= \
            SMALL['query_cameras_per_id'][1]

    manifest = json.loads((small / MANIFEST_NAME).read_text())
    assert manifest['complete']
    assert {split: counts['images'] for split, counts in manifest['splits'].items()} == \
        dict(train=len(train), query=len(query), gallery=len(gallery))


def test_train_and_test_identities_are_disjoint(small):
    train, query, gallery = (identities(entries(small, split)) for split in SPLITS)
    assert not train & (query | gallery)
    assert query <= gallery


def test_every_query_has_a_gallery_match_from_another_camera(small):
    gallery = entries(small, 'gallery')
    for identity, camera, name in entries(small, 'query'):
        assert any(other == identity and other_camera != camera
                   for other, other_camera, _ in gallery), name


def test_distractors_and_junk_are_only_in_the_gallery(small):
    for split in ('train', 'query'):
        assert identities(entries(small, split)).isdisjoint({0, -1})
    assert {0, -1} <= identities(entries(small, 'gallery'))
    assert any(name.startswith('-1_c') for _, _, name in entries(small, 'gallery'))


def test_same_seed_same_bytes_other_seed_other_images(small, tmp_path):
    again = generate_synthetic_market(tmp_path / 'again', **SMALL)
    assert file_bytes(again) == file_bytes(small)
    other = generate_synthetic_market(tmp_path / 'other', **SMALL, seed=1)
    assert file_bytes(other) != file_bytes(small)


def test_second_call_returns_without_rewriting(small):
    before = {path: path.stat().st_mtime_ns for path in small.rglob('*')}
    assert generate_synthetic_market(small.parent, **SMALL) == small
    assert {path: path.stat().st_mtime_ns for path in small.rglob('*')} == before


def test_other_parameters_or_an_interrupted_run_regenerate(tmp_path):
    tiny = dict(SMALL, num_train_ids=2, num_test_ids=2, num_distractors=1, num_junk=1)
    folder = generate_synthetic_market(tmp_path, **tiny)
    first = file_bytes(folder)
    generate_synthetic_market(tmp_path, **dict(tiny, seed=5))
    assert file_bytes(folder) != first
    assert json.loads((folder / MANIFEST_NAME).read_text())['parameters']['seed'] == 5

    next(folder.glob('query/*.jpg')).unlink()  # an incomplete folder
    generate_synthetic_market(tmp_path, **dict(tiny, seed=5))
    generate_synthetic_market(tmp_path, **tiny)
    assert file_bytes(folder) == first


def test_folder_not_written_by_the_generator_is_kept(tmp_path):
    real = tmp_path / DATASET_FOLDER / 'bounding_box_train' / '0002_c1s1_000451_03.jpg'
    real.parent.mkdir(parents=True)
    real.write_bytes(b'not ours')
    with pytest.raises(FileExistsError, match='overwrite=True'):
        generate_synthetic_market(tmp_path, **SMALL)
    assert real.read_bytes() == b'not ours'
    generate_synthetic_market(tmp_path, **SMALL, overwrite=True)
    assert not real.exists()


def test_bad_parameters_name_the_option(tmp_path):
    with pytest.raises(ValueError, match='images_per_camera'):
        generate_synthetic_market(tmp_path, images_per_camera=(1, 3))
    with pytest.raises(ValueError, match='cameras_per_id'):
        generate_synthetic_market(tmp_path, num_cameras=3, cameras_per_id=(2, 4))
    with pytest.raises(ValueError, match=r'num_distractors \(-3\) and num_junk \(-5\) '
                                         r'must be >= 0'):
        generate_synthetic_market(tmp_path, num_distractors=-3, num_junk=-5)
    assert not (tmp_path / DATASET_FOLDER).exists()


def test_render_person_is_a_bgr_image_of_the_requested_size():
    rng = np.random.default_rng(0)
    appearance, camera = sample_appearance(rng), sample_camera(1, rng)
    assert isinstance(camera, Camera)
    image = render_person(appearance, camera, np.random.default_rng(1), (96, 48))
    assert image.shape == (96, 48, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render_person(appearance, camera,
                                               np.random.default_rng(1), (96, 48)))
    background = render_person(None, camera, np.random.default_rng(1), (96, 48))
    assert not np.array_equal(image, background)


def colour_descriptor(image: np.ndarray) -> np.ndarray:
    """Hue/saturation/value histograms of the upper and lower body (a hand-crafted
    baseline, no learning): (2 × 72,) float, square-rooted so that L2 is Hellinger."""
    height, width = image.shape[:2]
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    parts = []
    for top, bottom in ((0.25, 0.5), (0.55, 0.85)):
        region = hsv[int(top * height):int(bottom * height), width // 4:3 * width // 4]
        hist = cv2.calcHist([region], [0, 1, 2], None, [8, 3, 3],
                            [0, 180, 0, 256, 0, 256]).ravel()
        parts.append(np.sqrt(hist / hist.sum()))
    return np.concatenate(parts)


def cross_camera_rank1(folder: Path) -> tuple[float, float]:
    """Nearest-neighbour Rank-1 of the colour descriptor under Market's protocol (gallery
    images of the query's identity and camera, and junk, are ignored), and its chance."""
    def load(split):
        items = [(identity, camera, cv2.imread(str(folder / SPLITS[split] / name)))
                 for identity, camera, name in entries(folder, split) if identity != -1]
        return (np.array([i for i, _, _ in items]), np.array([c for _, c, _ in items]),
                np.stack([colour_descriptor(image) for _, _, image in items]))

    query_ids, query_cameras, query_features = load('query')
    gallery_ids, gallery_cameras, gallery_features = load('gallery')
    distances = ((query_features[:, None] - gallery_features[None]) ** 2).sum(-1)
    ignored = (query_ids[:, None] == gallery_ids[None]) & \
        (query_cameras[:, None] == gallery_cameras[None])
    nearest = np.where(ignored, np.inf, distances).argmin(1)
    return float(np.mean(gallery_ids[nearest] == query_ids)), 1 / len(set(query_ids))


def test_identities_are_learnable_but_not_trivial(tmp_path):
    """A colour histogram finds the right person across cameras far above chance, but the
    lighting, poses and shared palette colours keep it from being perfect."""
    folder = generate_synthetic_market(
        tmp_path, num_train_ids=1, num_test_ids=40, cameras_per_id=(2, 3),
        images_per_camera=(2, 3), num_distractors=10, num_junk=0)
    rank1, chance = cross_camera_rank1(folder)
    assert 5 * chance < rank1 < 1, (rank1, chance)


def test_market1501_reads_the_generated_tree(small):
    train = Market1501(data_root=str(small), split='train')
    labels = {train.get_data_info(i)['gt_label'] for i in range(len(train))}
    assert len(train) == len(entries(small, 'train'))
    assert labels == set(range(SMALL['num_train_ids']))
    query = Market1501(data_root=str(small), split='query')
    assert len(query) == len(entries(small, 'query'))
    gallery = Market1501(data_root=str(small), split='gallery')
    assert len(gallery) == len(entries(small, 'gallery')) - SMALL['num_junk']


@pytest.mark.slow
def test_a_generation_killed_half_way_is_refused_as_data_until_redone(tmp_path):
    """The generator killed (SIGKILL) once some images are on disk: its split folders would
    read as a smaller, whole dataset. Market1501 refuses it, naming the manifest; running
    the generator again writes it anew, and it loads."""
    command = [sys.executable, 'tools/misc/generate_synthetic_reid.py', str(tmp_path)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    folder = tmp_path / DATASET_FOLDER
    deadline = time.monotonic() + 120
    while not any((folder / SPLITS['train']).glob('*.jpg')) and process.poll() is None:
        assert time.monotonic() < deadline, 'the generator wrote no image in 2 minutes'
        time.sleep(0.01)
    process.kill()
    assert process.wait() == -signal.SIGKILL, 'the generator ended before it was killed'
    with pytest.raises(DatasetError) as refused:
        Market1501(data_root=str(folder), split='train')
    assert str(refused.value) == (
        f'Market-1501: {folder} is a synthetic dataset whose writing did not finish '
        f'({folder / MANIFEST_NAME} does not mark it complete: its generator was interrupted '
        f'or is still running); run tools/misc/generate_synthetic_reid.py again with the same '
        f'options, which writes it anew')
    load_tool().main([str(tmp_path)])
    assert len(Market1501(data_root=str(folder), split='query')) > 0


def load_tool():
    return load_script(ROOT / 'tools/misc/generate_synthetic_reid.py', 'generate_synthetic_reid')


def test_command_line_prints_one_summary_line(tmp_path, capsys):
    tool = load_tool()
    tool.main([str(tmp_path), '--train-ids', '2', '--test-ids', '3', '--cameras', '3',
               '--cameras-per-id', '2', '3', '--images-per-camera', '2', '2',
               '--query-cameras-per-id', '1', '2', '--image-size', '32', '16',
               '--distractors', '1', '--junk', '1', '--seed', '7'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f'Writing a synthetic Market-1501 under {tmp_path}')
    assert f'{tmp_path / DATASET_FOLDER}: train 2 ids /' in lines[-1]
    assert 'query 3 ids /' in lines[-1]
    with pytest.raises(SystemExit, match=r'num_train_ids \(0\) and num_test_ids \(3\) must be '
                                         r'>= 1'):
        tool.main([str(tmp_path / 'other'), '--train-ids', '0', '--test-ids', '3'])


def test_default_cameras_per_id_is_clamped_to_few_cameras(tmp_path, capsys):
    """Without --cameras-per-id, its default (3, 5) shrinks to fit --cameras 3; a range given
    explicitly that does not fit is still refused, naming the option."""
    tool = load_tool()
    assert tool.parse_args(['--cameras', '3']).cameras_per_id == (3, 3)
    assert tool.parse_args(['--cameras', '2']).cameras_per_id == (2, 2)
    assert tool.parse_args([]).cameras_per_id == tuple(tool.DEFAULTS['cameras_per_id'])
    tool.main([str(tmp_path), '--train-ids', '8', '--test-ids', '6', '--cameras', '3',
               '--image-size', '32', '16', '--distractors', '1', '--junk', '1'])
    assert 'train 8 ids /' in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r'cameras_per_id \(3, 5\) must satisfy'):
        tool.main([str(tmp_path / 'other'), '--cameras', '3', '--cameras-per-id', '3', '5'])


@pytest.mark.parametrize('counts', [['--distractors', '-3'], ['--junk', '-5']])
def test_command_line_refuses_negative_distractors_or_junk(tmp_path, counts):
    with pytest.raises(SystemExit, match=r'^generate_synthetic_market: num_distractors '
                                         r'\(-?\d+\) and num_junk \(-?\d+\) must be >= 0$'):
        load_tool().main([str(tmp_path), *counts])
    assert not (tmp_path / DATASET_FOLDER).exists()


@pytest.mark.parametrize('below', [False, True])
def test_command_line_names_a_root_that_is_or_lies_below_a_file(tmp_path, capsys, below):
    a_file = tmp_path / 'taken'
    a_file.write_text('')
    root = str(a_file / 'synthetic' if below else a_file)
    with pytest.raises(SystemExit, match=rf'^root {re.escape(root)}: '
                                         rf'{re.escape(str(a_file))} is a file, not a folder; '
                                         r'choose another root$'):
        load_tool().main([root])
    assert 'Writing' not in capsys.readouterr().out
