"""tools/train.py and tools/test.py on a tiny Cityscapes tree (paper §4.2).

The tree has mmseg's real layout and file suffixes, so mmseg's CityscapesDataset (through
rga_mm's, which adds its input checks), its pipelines and IoUMetric read it unchanged. The
model is the PSPNet + RGA-SC config shrunk to ResNet-18 and 64×64 crops by a small config
that inherits it.
"""
import json
import re
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from rga_mm.apis import init_model
from rga_mm.testing import load_script
from tiny_cityscapes import ROOT, write_tiny_setup
from tool_runs import run_checked, run_checked_in_process

pytestmark = pytest.mark.slow


def test_train_and_test_pspnet_rga_on_a_tiny_cityscapes_tree(tmp_path):
    """The tools called in this process; the log is the file the run writes."""
    data_root, config = write_tiny_setup(tmp_path)
    work_dir = tmp_path / 'work'

    run_checked_in_process('tools/train.py', config, '--work-dir', work_dir)
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    log_file, = work_dir.glob('*/*.log')
    log = log_file.read_text()
    assert 'Iter(train) [2/2]' in log and 'decode.loss_ce' in log
    assert 'mIoU' in log  # the validation after iteration 2
    # the attention hook through mmseg's SegLocalVisualizer: input, neck gate, CAM
    image, = work_dir.glob('*/vis_data/vis_image/*.png')
    assert image.name == 'attention_tinycity_000000_000019_leftImg8bit_2.png'
    assert mmcv.imread(str(image)).shape == (30 + 32, 3 * 64 + 2 * 4, 3)

    out = tmp_path / 'metrics.json'
    run_checked_in_process('tools/test.py', config, checkpoint, '--work-dir', work_dir,
                           '--out', out)
    cfg = Config.fromfile(str(config))
    assert cfg.test_dataloader.dataset.type == 'rga_mm.CityscapesDataset'
    assert cfg.test_evaluator.type == 'IoUMetric' and cfg.model.test_cfg.mode == 'whole'
    assert cfg.model.neck.type == 'rga_mm.RGANeck'  # 8×16 test maps vs a 5×5 grid
    metrics = json.loads(out.read_text())
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= 100

    show_dir = tmp_path / 'show'
    slide = run_checked_in_process(
        'tools/test.py', config, checkpoint, '--work-dir', work_dir, '--show-dir', show_dir,
        '--cfg-options', 'model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(64,64)',
        'model.test_cfg.stride=(48,48)', 'default_hooks.visualization.interval=1')
    assert 'mIoU' in slide.stdout + slide.stderr
    assert 'will draw no prediction' not in slide.stdout  # 2 batches reach the interval of 1
    # --show-dir: mmseg's hook draws every batch (interval 1): ground truth | prediction
    assert (f'--show-dir draws the predictions of every test batch, in {show_dir}/vis_data/'
            f'vis_image') in slide.stdout
    images = sorted((data_root / 'leftImg8bit' / 'val').rglob('*.png'))
    drawn = sorted(show_dir.glob('vis_data/vis_image/*.png'))
    assert [p.name for p in drawn] == [f'test_{image.name}_0.png' for image in images]
    height, width = mmcv.imread(str(images[0])).shape[:2]
    assert all(mmcv.imread(str(p)).shape == (height, 2 * width, 3) for p in drawn)


def test_show_dir_says_when_the_test_is_shorter_than_the_hooks_interval(tmp_path):
    """2 test batches against the visualization hook's interval of 50: the hook draws batch
    50, 100, …, so none here; the tool says so before testing, naming the option that draws
    every batch."""
    _, config = write_tiny_setup(tmp_path)
    checkpoint = tmp_path / 'init.pth'
    torch.save({'state_dict': init_model(config).state_dict()}, checkpoint)
    show_dir = tmp_path / 'show'
    result = run_checked_in_process('tools/test.py', config, checkpoint, '--work-dir',
                                    tmp_path / 'work', '--show-dir', show_dir)
    assert ("--show-dir will draw no prediction: the test has 2 batches, fewer than the "
            "visualization hook's interval of 50; add --cfg-options "
            "default_hooks.visualization.interval=1 to draw every batch"
            ) in result.stdout.splitlines()
    assert not list(show_dir.glob('vis_data/vis_image/*.png'))


def test_the_folder_of_label_maps_the_out_refusal_names_is_written(tmp_path):
    """tools/test.py's --out is a metrics file; mmseg's --out DIR of predicted label maps is
    IoUMetric's output_dir, as the refusal of an --out without a suffix says: one
    single-channel map of the image's size per test image, the metrics computed as well."""
    data_root, config = write_tiny_setup(tmp_path)
    checkpoint = tmp_path / 'init.pth'
    torch.save({'state_dict': init_model(config).state_dict()}, checkpoint)
    predictions = tmp_path / 'predictions'
    with pytest.raises(SystemExit, match=re.escape(
            f'is --cfg-options test_evaluator.output_dir={predictions} here')):
        load_script(ROOT / 'tools/test.py', 'test_tool').main(
            [str(config), str(checkpoint), '--out', str(predictions)])
    result = run_checked_in_process('tools/test.py', config, checkpoint, '--work-dir',
                                    tmp_path / 'work', '--cfg-options',
                                    f'test_evaluator.output_dir={predictions}')
    assert 'mIoU' in result.stdout + result.stderr
    images = sorted((data_root / 'leftImg8bit' / 'val').rglob('*.png'))
    maps = sorted(predictions.glob('*.png'))
    assert [path.name for path in maps] == [image.name for image in images]
    for image, label_map in zip(images, maps):
        assert np.asarray(Image.open(label_map)).shape == mmcv.imread(str(image)).shape[:2]


def _check_dataset():
    """tools/misc/check_dataset.py as a module, to call its ``main(argv)``; registered, so
    that its functions can be pickled for worker processes."""
    return load_script(ROOT / 'tools/misc/check_dataset.py', 'check_dataset', register=True)


def test_a_syncbn_config_trains_distributed_on_the_cpu_with_bn(tmp_path):
    """The Cityscapes configs ask for SyncBN, which PyTorch runs on CUDA only: two gloo
    ranks train with BN instead, and say so."""
    data_root, config = write_tiny_setup(tmp_path)
    work_dir = tmp_path / 'work'
    sync_bn = [f'model.{part}.norm_cfg.type=SyncBN'
               for part in ('backbone', 'neck', 'decode_head', 'auxiliary_head')]
    train = run_checked('bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
                        str(work_dir), '--cfg-options', *sync_bn,
                        env=dict(PYTHON=sys.executable, PORT='29733', OMP_NUM_THREADS='1'))
    assert 'SyncBN needs CUDA, so the model uses BN' in train.stdout + train.stderr
    checkpoint = torch.load(work_dir / 'iter_2.pth', weights_only=False)
    assert checkpoint['meta']['iter'] == 2


def test_check_dataset_lists_missing_and_truncated_label_maps(tmp_path, capsys):
    """A labelTrainIds PNG that is gone or cut short fails check_dataset, not training."""
    data_root, config = write_tiny_setup(tmp_path)
    check_dataset = _check_dataset()

    assert check_dataset.main([str(config)]) == 0
    assert 'all 4 images and 4 label maps can be read' in capsys.readouterr().out

    labels = sorted((data_root / 'gtFine').glob('*/tinycity/*_labelTrainIds.png'))
    missing, truncated = labels[0], labels[-1]
    missing.unlink()
    truncated.write_bytes(truncated.read_bytes()[:100])
    for nproc in ('1', '2'):
        assert check_dataset.main([str(config), '--nproc', nproc]) == 1
        out = capsys.readouterr().out
        listed = dict(re.findall(r'^(/\S+\.png): (.+)$', out, re.MULTILINE))
        assert listed.keys() == {str(missing), str(truncated)}
        assert listed[str(missing)] == 'the file does not exist'
        assert 'pillow cannot decode' in listed[str(truncated)]
        assert '2 of 4 label maps cannot be read' in out
        assert 'images cannot be read' not in out


def _break_two_label_maps(data_root: Path) -> tuple[Path, Path]:
    """(a train label map rewritten 64×100, a val one rewritten with labelIds values)."""
    stem = 'tinycity_000000_000019_gtFine_labelTrainIds.png'
    mis_sized = data_root / 'gtFine/train/tinycity' / stem
    Image.fromarray(np.zeros((64, 100), np.uint8)).save(mis_sized)
    label_ids = data_root / 'gtFine/val/tinycity' / stem
    values = np.full((64, 128), 7, np.uint8)  # road, sky, car of labelIds
    values[:16], values[16:32] = 23, 26
    Image.fromarray(values).save(label_ids)
    return mis_sized, label_ids


def test_check_dataset_lists_label_maps_of_another_size_or_with_label_ids(tmp_path, capsys):
    """The two problems CheckCityscapesLabelMap finds at load time, found before the run,
    with its sentences and one decoding of each file."""
    data_root, config = write_tiny_setup(tmp_path)
    check_dataset = _check_dataset()
    assert check_dataset.main([str(config)]) == 0
    assert 'all 4 images and 4 label maps can be read and fit' in capsys.readouterr().out

    mis_sized, label_ids = _break_two_label_maps(data_root)
    image = data_root / 'leftImg8bit/train/tinycity/tinycity_000000_000019_leftImg8bit.png'
    for nproc in ('1', '2'):
        assert check_dataset.main([str(config), '--nproc', nproc]) == 1
        out = capsys.readouterr().out
        listed = dict(re.findall(r'^(/\S+\.png): (.+)$', out, re.MULTILINE))
        assert listed == {
            str(mis_sized): (
                f"is 64×100 but its image {image} is 64×128: each *_gtFine_labelTrainIds.png "
                f"must have its *_leftImg8bit.png's size, so replace the label map (or the "
                f'image) with the one of the same frame'),
            str(label_ids): (
                "holds values 23, 26, outside the trainIds 0..18 and 255: it looks like a "
                "*_gtFine_labelIds.png map, so run mmseg's tools/dataset_converters/"
                'cityscapes.py on the Cityscapes root to write the *_gtFine_labelTrainIds.png '
                'maps and point seg_map_suffix at them')}
        assert '2 of 4 label maps do not fit their image or the classes:' in out
        assert 'cannot be read' not in out


def test_check_dataset_checks_mmseg_datasets_by_their_metainfo(tmp_path, capsys):
    """mmseg's own CityscapesDataset gets both checks from its classes and ignore_index; with
    reduce_zero_label the values of the files cannot be judged, and a line says so."""
    data_root, config = write_tiny_setup(tmp_path)
    mis_sized, label_ids = _break_two_label_maps(data_root)
    check_dataset = _check_dataset()
    plain = ['--cfg-options', 'train_dataloader.dataset.type=CityscapesDataset',
             'val_dataloader.dataset.type=CityscapesDataset',
             'test_dataloader.dataset.type=CityscapesDataset']

    assert check_dataset.main([str(config), *plain]) == 1
    out = capsys.readouterr().out
    assert '(CityscapesDataset)' in out and 'not checked' not in out
    listed = dict(re.findall(r'^(/\S+\.png): (.+)$', out, re.MULTILINE))
    assert listed.keys() == {str(mis_sized), str(label_ids)}

    reduced = [*plain, 'val_dataloader.dataset.reduce_zero_label=True',
               'test_dataloader.dataset.reduce_zero_label=True']
    assert check_dataset.main([str(config), *reduced]) == 1
    out = capsys.readouterr().out
    assert 'val/test: label values not checked' in out
    listed = dict(re.findall(r'^(/\S+\.png): (.+)$', out, re.MULTILINE))
    assert listed.keys() == {str(mis_sized)}
    assert '1 of 4 label maps do not fit' in out
