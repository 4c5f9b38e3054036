"""tools/visualization/browse_dataset.py draws the batches the Runner's data loader gives:
identity batches in rows, labels from the dataset, pixels as the pipeline makes them; and
refuses what it cannot draw in one sentence."""
import json
import re
import shutil
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from rga_mm.datasets import Market1501
from rga_mm.engine.launch import load_config_with_options
from rga_mm.testing import load_script
from rga_mm.visualization import BatchGridVisualizer
from rga_mm.visualization.image_inputs import displayed_image
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
THUMBNAIL = (128, 64)  # the demo's 64×32 input, doubled


def _browse(*args):
    result = run_in_process(load_script(ROOT / 'tools/visualization/browse_dataset.py',
                                        'browse_dataset'), *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _options(data_root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'test_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=8']


def test_training_batches_are_drawn_as_the_runner_loads_them(tiny_market, tmp_path):
    out = tmp_path / 'browse'
    result = _browse(CONFIG, '--out', out, '--num-batches', 2, *_options(tiny_market))
    assert f'2 batches of train_dataloader drawn in {out}' in result.stdout
    # written to a pipe or a log: plain progress lines, no carriage-return bar
    drawn = [line.partition(',')[0] for line in result.stdout.splitlines()
             if line.startswith('drew ')]
    assert drawn == ['drew 1/2 batches (50 %)', 'drew 2/2 batches (100 %)']
    assert '\r' not in result.stdout
    batches = json.loads((out / 'batches.json').read_text())
    assert sorted(p.name for p in out.iterdir()) == ['batch_0.png', 'batch_1.png',
                                                     'batches.json']
    # identity batches: 2 identities × 4 images, a row each (K = 4 columns by default)
    labels = {item['img_path']: (item['gt_label'], item['camera_id'])
              for item in Market1501(data_root=str(tiny_market), split='train').load_data_list()}
    for batch in batches:
        assert len(batch) == 8
        assert all(len({item['identity'] for item in batch[row:row + 4]}) == 1
                   for row in (0, 4))
        assert [(item['identity'], item['camera']) for item in batch] == [
            labels[item['path']] for item in batch]

    picture = mmcv.imread(str(out / 'batch_0.png'), channel_order='rgb')
    visualizer = BatchGridVisualizer(thumbnail_size=THUMBNAIL)
    assert picture.shape[:2] == visualizer.canvas_size(8, 4)
    # the pixels: the first batch of the config's loader built by mmengine's Runner, seeded
    cfg = load_config_with_options(CONFIG, {
        'train_dataloader.dataset.data_root': str(tiny_market),
        'train_dataloader.batch_size': 8, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False})
    init_default_scope('rga_mm')
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=cfg.randomness.seed)
    first = next(iter(loader))
    assert [s.img_path for s in first['data_samples']] == [item['path'] for item in batches[0]]
    for index in (0, 5):
        top, left = visualizer.cell_origin(index, 4)
        expected = cv2.resize(displayed_image(first['inputs'][index], 'bgr'), THUMBNAIL[::-1])
        first_row = top + visualizer.label_height
        cell = picture[first_row:first_row + THUMBNAIL[0], left:left + THUMBNAIL[1]]
        assert np.abs(cell.astype(int) - expected).max() <= 1  # PNG keeps 8 bits exactly


def test_a_rerun_leaves_one_runs_batches_and_a_count_beyond_the_loader_draws_all(
        tiny_market, tmp_path):
    out = tmp_path / 'browse'
    result = _browse(CONFIG, '--out', out, '--num-batches', 1000, *_options(tiny_market))
    count = int(re.search(r'--num-batches 1000: train_dataloader has (\d+) batches; drawing '
                          r'every one', result.stderr).group(1))
    assert 1 < count < 1000
    assert f'{count} batches of train_dataloader drawn in {out}' in result.stdout
    assert len(json.loads((out / 'batches.json').read_text())) == count
    assert len(list(out.glob('batch_*.png'))) == count
    (out / 'notes.txt').write_text('mine')  # not the tool's: kept
    result = _browse(CONFIG, '--out', out, '--num-batches', 1, *_options(tiny_market))
    assert '--num-batches' not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ['batch_0.png', 'batches.json', 'notes.txt']


def test_a_test_split_is_drawn_in_the_columns_asked_with_query_flags(tiny_market, tmp_path):
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    sample = DataSample(metainfo=dict(camera_id=2, is_query=True)).set_gt_label(7)
    assert tool.label(sample, 'test') == 'id 7\ncam 2\nquery'
    assert tool.label(sample, 'train') == 'class 7\ncam 2'
    out = tmp_path / 'browse'
    _browse(CONFIG, '--split', 'test', '--num-batches', 1, '--columns', 5, '--out', out,
            '--thumbnail-height', 32, *_options(tiny_market))
    batch, = json.loads((out / 'batches.json').read_text())
    queries = sorted(str(p) for p in (tiny_market / 'query').glob('*.jpg'))
    assert [item['path'] for item in batch if item['is_query']] == queries[:len(batch)]
    picture = mmcv.imread(str(out / 'batch_0.png'))
    assert picture.shape[:2] == BatchGridVisualizer(
        thumbnail_size=(32, 16), label_lines=3).canvas_size(len(batch), 5)


def test_what_cannot_be_drawn_is_refused_in_one_sentence(tiny_market, tmp_path):
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    cifar = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
    data_root = tmp_path / 'no_cifar'
    result = run_in_process(tool, cifar, '--out', tmp_path / 'out', '--cfg-options',
                            f'train_dataloader.dataset.data_root={data_root}')
    assert result.stderr.strip() == (
        f'browse_dataset.py draws re-ID batches, and the train_dataloader of {cifar} reads a '
        f'rga_mm.CIFAR10, no re-ID dataset; mmpretrain and mmseg ship browse_dataset tools of '
        f'their own')
    result = run_in_process(tool, CONFIG, '--out', tmp_path / 'out', *_options(data_root))
    assert result.stderr.strip() == (
        f'Market-1501: data_root {data_root} is not a folder; expected bounding_box_train/, '
        f'query/ and bounding_box_test/ under data_root, with files like '
        f'0002_c1s1_000451_03.jpg')
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    result = run_in_process(tool, CONFIG, '--out', a_file, *_options(tiny_market))
    assert result.stderr.strip() == (f'--out {a_file}: {a_file} is a file, not a folder; '
                                     f'choose another --out')
    result = run_in_process(tool, CONFIG, '--split', 'val', '--out', tmp_path / 'out',
                            *_options(tiny_market), 'val_dataloader=None')
    assert result.stderr.strip() == f'the config {CONFIG} has no val_dataloader'


def test_an_unreadable_image_stops_the_tool_with_its_sentence(tiny_market, tmp_path):
    data_root = tmp_path / 'market'
    shutil.copytree(tiny_market, data_root)
    broken = sorted((data_root / 'bounding_box_train').glob('*.jpg'))[0]
    broken.write_bytes(b'garbage!')
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    result = run_in_process(tool, CONFIG, '--num-batches', 10, '--out', tmp_path / 'out',
                            *_options(data_root))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f'cannot read image {broken}')
    assert 'Traceback' not in result.stderr


def test_a_run_stopped_part_way_leaves_the_earlier_runs_batches_as_they_were(tiny_market,
                                                                            tmp_path):
    """The test split in batches of 2, its third query unreadable: the run stops in its
    second batch, after drawing the first, which replaced the earlier run's batch_0.png
    beside that run's batches.json before the pictures were drawn aside."""
    out = tmp_path / 'out'
    _browse(CONFIG, '--out', out, '--num-batches', 3, *_options(tiny_market))
    earlier = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(earlier) == ['batch_0.png', 'batch_1.png', 'batch_2.png', 'batches.json']
    data_root = tmp_path / 'market'
    shutil.copytree(tiny_market, data_root)
    broken = sorted((data_root / 'query').glob('*.jpg'))[2]
    broken.write_bytes(b'garbage!')
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    result = run_in_process(tool, CONFIG, '--split', 'test', '--num-batches', 3, '--out', out,
                            *_options(data_root), 'test_dataloader.batch_size=2')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f'cannot read image {broken}')
    assert {path.name: path.read_bytes() for path in out.iterdir()} == earlier


def test_a_thumbnail_height_beyond_the_limit_is_refused(capsys):
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    with pytest.raises(SystemExit):
        tool.parse_args(['config.py', '--thumbnail-height', str(tool.MAX_THUMBNAIL_HEIGHT + 1)])
    assert (f"argument --thumbnail-height: must be at most {tool.MAX_THUMBNAIL_HEIGHT} (a "
            f"batch's grid would take gigabytes), got {tool.MAX_THUMBNAIL_HEIGHT + 1}"
            ) in capsys.readouterr().err
    assert tool.parse_args(['config.py', '--thumbnail-height', '1024']).thumbnail_height == 1024


def test_an_out_named_like_an_image_is_refused_in_argparse(tmp_path, capsys):
    """browse_dataset writes a folder of batch pictures: ``--out batches.png`` would be a
    folder with an image's name."""
    tool = load_script(ROOT / 'tools/visualization/browse_dataset.py', 'browse_dataset')
    with pytest.raises(SystemExit):
        tool.parse_args(['config.py', '--out', str(tmp_path / 'batches.PNG')])
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f'error: --out {tmp_path / "batches.PNG"} names an image file, but browse_dataset '
        f'writes a folder of batch pictures: give a folder, e.g. {tmp_path / "batches"}')
    assert not (tmp_path / 'batches.PNG').exists()
    (tmp_path / 'existing.png').mkdir()  # a folder so named is taken
    assert tool.parse_args(['config.py', '--out', str(tmp_path / 'existing.png')]).out
