"""An empty or truncated Cityscapes image or label map PNG met while loading is named, with the
fix, in one sentence: by the dataset's loading steps and, without a traceback, by
tools/train.py. A readable file loads as mmcv's and mmseg's own steps load it. Each case is a
real tiny Cityscapes tree (paper §4.2 layout) and the ResNet-18 PSPNet + RGA-SC config."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.testing import load_script
from tiny_cityscapes import ROOT, write_tiny_setup

STEM = 'tinycity_000001_000019'
IMAGE_HINT = ('replace or remove it (python tools/misc/check_dataset.py CONFIG lists every '
              'unreadable image of a config)')
LABEL_HINT = ('replace it, or remove it with its image (python tools/misc/check_dataset.py '
              'CONFIG lists every unreadable image and label map of a config)')


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, Config]:
    """(data root of a tiny Cityscapes tree, the ResNet-18 PSPNet + RGA-SC config on it)."""
    data_root, config = write_tiny_setup(tmp_path)
    init_default_scope('mmseg')
    return data_root, Config.fromfile(str(config))


def _build_dataset(dataset_cfg: dict):
    from mmseg.registry import DATASETS
    return DATASETS.build(dataset_cfg)


def _files(data_root: Path, split: str) -> dict[str, Path]:
    """The image and the label map of frame 1 of ``split``."""
    return {'image': data_root / f'leftImg8bit/{split}/tinycity/{STEM}_leftImg8bit.png',
            'label map': data_root / f'gtFine/{split}/tinycity/{STEM}_gtFine_labelTrainIds.png'}


def _damage(path: Path, damage: str) -> None:
    """Empty ``path`` (0 bytes) or cut it to its first 100 bytes (a PNG header and no data)."""
    path.write_bytes(b'' if damage == 'empty' else path.read_bytes()[:100])


def _assert_names_the_file(message: str, kind: str, path: Path, damage: str) -> None:
    """``message`` is the one sentence for the ``damage`` of the ``kind`` file ``path``."""
    reason = (re.escape('the file is empty (0 bytes)') if damage == 'empty' else
              r'100 bytes that \w+ cannot decode as an image \(truncated, corrupt or not an '
              r'image file\).*')
    hint = IMAGE_HINT if kind == 'image' else LABEL_HINT
    pattern = f'cannot read {kind} {re.escape(str(path))}: {reason}; {re.escape(hint)}'
    assert re.fullmatch(pattern, message), message


@pytest.mark.parametrize('damage', ['empty', 'truncated'])
@pytest.mark.parametrize('kind', ['image', 'label map'])
@pytest.mark.parametrize('split', ['train', 'val'])
def test_a_damaged_png_is_named_when_loaded(tiny, split, kind, damage):
    """Unnamed, OpenCV's ``!buf.empty()`` assertion, Pillow's ``cannot identify image file
    <_io.BytesIO ...>`` or ``image file is truncated`` would stop the run."""
    data_root, cfg = tiny
    path = _files(data_root, split)[kind]
    dataset = _build_dataset(cfg[f'{split}_dataloader'].dataset)
    _damage(path, damage)
    with pytest.raises(UnreadableImageError) as error:
        dataset[1]
    _assert_names_the_file(str(error.value), kind, path, damage)
    assert error.value.path == str(path)
    assert dataset[0]['inputs'].shape[0] == 3  # the other frame loads


def test_readable_files_load_as_mmcv_and_mmseg_load_them(tiny):
    """The swapped steps keep the settings of mmcv's LoadImageFromFile and mmseg's
    LoadAnnotations and give the same arrays: the same inputs and label maps as mmseg's own
    CityscapesDataset with the same pipeline."""
    from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations as MMSegLoadAnnotations
    data_root, cfg = tiny
    ours = _build_dataset(cfg.val_dataloader.dataset)
    mmseg = _build_dataset({**cfg.val_dataloader.dataset, 'type': 'CityscapesDataset'})
    for base in (MMCVLoadImageFromFile, MMSegLoadAnnotations):
        step, = (s for s in ours.pipeline.transforms if isinstance(s, base))
        plain, = (s for s in mmseg.pipeline.transforms if type(s) is base)
        assert type(step) is not base and type(step).__name__ == base.__name__
        assert vars(step) == vars(plain)
    for index in range(len(ours)):
        item, plain = ours[index], mmseg[index]
        assert torch.equal(item['inputs'], plain['inputs'])
        assert torch.equal(item['data_samples'].gt_sem_seg.data,
                           plain['data_samples'].gt_sem_seg.data)
        assert item['data_samples'].metainfo == plain['data_samples'].metainfo


def test_a_failure_that_is_not_the_files_stays_mmsegs(tiny):
    """A readable label map whose loading fails for another reason (here a dataset item
    without ``reduce_zero_label``) keeps mmseg's own error."""
    from rga_mm.datasets.seg_loading import LoadAnnotations
    data_root, _ = tiny
    results = dict(seg_map_path=str(_files(data_root, 'val')['label map']), seg_fields=[])
    with pytest.raises(KeyError, match='reduce_zero_label'):
        LoadAnnotations()(results)


@pytest.mark.parametrize('split, kind, damage', [('train', 'image', 'empty'),
                                                 ('val', 'label map', 'truncated')])
def test_train_stops_with_the_sentence_alone(tiny, tmp_path, split, kind, damage):
    """tools/train.py meets a damaged training image in its first batch, and a damaged
    validation label map at the validation after iteration 1, and stops with the sentence."""
    data_root, cfg = tiny
    path = _files(data_root, split)[kind]
    _damage(path, damage)
    train = load_script(ROOT / 'tools/train.py', 'train')
    with pytest.raises(SystemExit) as stop:
        train.main([cfg.filename, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                    'train_cfg.max_iters=1', 'train_cfg.val_interval=1'])
    _assert_names_the_file(stop.value.code, kind, path, damage)
