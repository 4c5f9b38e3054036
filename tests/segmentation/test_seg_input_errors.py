"""Bad segmentation inputs stop with one sentence that names the file or key and the fix: a
decode head that does not fit the RGA neck, an empty Cityscapes split, missing, mis-sized or
labelIds label maps. Each case is a real tiny Cityscapes tree and a real ResNet-18 model."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from rga_mm.apis import init_model
from rga_mm.engine.launch import load_config
from rga_mm.engine.launch.run_config import name_runs_apart
from rga_mm.errors import ConfigError, DatasetError
from rga_mm.models.necks import check_heads_fit_neck
from rga_mm.testing import load_script
from tiny_cityscapes import CONFIG, ROOT, write_tiny_setup


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, Config]:
    """(data root of a tiny Cityscapes tree, the ResNet-18 PSPNet + RGA-SC config on it),
    the config read as the tools read it (a Runner built from it formats its text once)."""
    data_root, config = write_tiny_setup(tmp_path)
    init_default_scope('mmseg')
    return data_root, load_config(config)


def _build_model(cfg: Config, **options):
    from mmseg.registry import MODELS
    cfg.merge_from_dict(options)
    return MODELS.build(cfg.model).eval()


def _build_dataset(dataset_cfg: dict):
    from mmseg.registry import DATASETS
    return DATASETS.build(dataset_cfg)


def _forward(model) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.randn(1, 3, 64, 64), mode='tensor')


def _assert_refused_before_a_shape_error(model, sentence: str, expected_channels: int):
    """check_heads_fit_neck stops ``model`` with exactly ``sentence``; unchecked, its first
    forward fails with what the check saves the user from: a convolution's shape error (a
    head expecting ``expected_channels``)."""
    with pytest.raises(ConfigError) as error:
        check_heads_fit_neck(model)
    assert str(error.value) == sentence
    with pytest.raises(RuntimeError,
                       match=f'expected input.* to have {expected_channels} channels'):
        _forward(model)


def test_a_decode_head_wider_than_the_neck_output_names_both_numbers_and_the_key(tiny):
    model = _build_model(tiny[1], **{'model.decode_head.in_channels': 2048})
    _assert_refused_before_a_shape_error(model, (
        'model.decode_head.in_channels=2048 but the map it reads (in_index=3) is the one '
        'RGANeck attends and concatenates with its attention (2 × model.neck.in_channels='
        '512): set model.decode_head.in_channels=1024'), expected_channels=2048)


def test_a_neck_that_does_not_fit_its_backbone_map_is_named_before_the_heads(tiny):
    """The heads' check would ask for 2 × the neck's wrong channels; the backbone (a
    ResNet) tells the right ones, and the advice, followed, builds a model that runs."""
    model = _build_model(tiny[1], **{'model.neck.in_channels': 256})
    with pytest.raises(ConfigError) as error:
        check_heads_fit_neck(model)
    assert str(error.value) == (
        'model.neck.in_channels=256 but the backbone map it attends (in_index=-1) has 512 '
        'channels: set model.neck.in_channels=512, and the heads that read that map '
        'in_channels=1024')
    with pytest.raises(ConfigError, match='RGANeck in_channels=256 does not match'):
        _forward(model)
    fixed = _build_model(tiny[1], **{'model.neck.in_channels': 512,
                                     'model.decode_head.in_channels': 1024})
    check_heads_fit_neck(fixed)
    assert _forward(fixed).shape[0] == 1


def test_moving_the_neck_to_another_map_names_the_head_that_reads_it(tiny):
    """The neck on layer3 (256 channels of ResNet-18, in_index 2 of the backbone's 4 maps):
    the auxiliary head, which reads layer3, must take 512 channels; the decode head reads
    layer4 unchanged."""
    neck = {'model.neck.in_index': 2, 'model.neck.in_channels': 256,
            'model.decode_head.in_channels': 512}
    with pytest.raises(ConfigError, match=re.escape(
            'model.auxiliary_head.in_channels=256 but the map it reads (in_index=2) is the one '
            'RGANeck attends')):
        check_heads_fit_neck(_build_model(tiny[1].copy(), **neck))
    fixed = _build_model(tiny[1].copy(), **neck, **{'model.auxiliary_head.in_channels': 512})
    check_heads_fit_neck(fixed)
    assert _forward(fixed).shape == (1, 19, 8, 8)  # mode tensor: the stride-8 logits


def test_a_head_left_doubled_after_the_neck_moved_names_its_maps_channels(tiny):
    """The neck moved to layer3 and the auxiliary head doubled, but the decode head still
    takes 1024 for layer4, which is passed through at its own 512 channels."""
    model = _build_model(tiny[1], **{'model.neck.in_index': 2, 'model.neck.in_channels': 256,
                                     'model.auxiliary_head.in_channels': 512})
    _assert_refused_before_a_shape_error(model, (
        'model.decode_head.in_channels=1024 but the map it reads (in_index=3) is a backbone '
        'map of 512 channels, which RGANeck (in_index=2) passes through unchanged: set '
        'model.decode_head.in_channels=512'), expected_channels=1024)



def test_a_backbone_with_stage_attentions_is_checked_as_the_backbone_it_wraps(tiny):
    """StageAttentionBackbone returns its wrapped backbone's maps: the neck at in_index=-1 is
    the map the decode head reads at in_index=3 of the 4, and an in_index past them is
    named when the model is checked, not at its first forward."""
    cfg = tiny[1].copy()
    cfg.model.backbone = dict(type='rga_mm.StageAttentionBackbone', backbone=cfg.model.backbone,
                              attentions=dict(layer3=dict(type='rga_mm.SE', in_channels=256)))
    with pytest.raises(ConfigError, match=re.escape(
            'model.decode_head.in_channels=512 but the map it reads (in_index=3) is the one '
            'RGANeck attends')):
        check_heads_fit_neck(_build_model(cfg.copy(), **{'model.decode_head.in_channels': 512}))
    with pytest.raises(ConfigError, match=r'^RGANeck in_index=4 but the backbone returns 4 '
                                          r'maps: set in_index to one of -4\.\.3$'):
        check_heads_fit_neck(_build_model(cfg.copy(), **{'model.neck.in_index': 4}))
    fitting = _build_model(cfg.copy())
    check_heads_fit_neck(fitting)
    assert _forward(fitting).shape == (1, 19, 8, 8)

UPERNET_WITH_RGA = """\
_base_ = ['mmseg::upernet/upernet_r18_4xb2-40k_cityscapes-512x1024.py']
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
model = dict(neck=dict(type='rga_mm.RGANeck', in_channels=512, spatial_size=(8, 8)))
"""
# CPU-sized: no pretrained download, plain BN, narrow heads
SMALL_UPERNET = {'model.pretrained': None, 'model.backbone.norm_cfg.type': 'BN',
                 'model.decode_head.norm_cfg.type': 'BN', 'model.decode_head.channels': 16,
                 'model.auxiliary_head.norm_cfg.type': 'BN',
                 'model.auxiliary_head.channels': 8}


MOBILENET_WITH_RGA = """\
_base_ = ['mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
model = dict(neck=dict(type='rga_mm.RGANeck', in_channels=96, spatial_size=(8, 8)),
             decode_head=dict(in_channels=640))
"""
SMALL_HEADS = {'model.decode_head.norm_cfg.type': 'BN', 'model.decode_head.channels': 16,
               'model.auxiliary_head.norm_cfg.type': 'BN', 'model.auxiliary_head.channels': 8,
               'model.backbone.norm_cfg.type': 'BN'}


def test_a_neck_of_unchecked_channels_is_offered_as_the_other_fix(tmp_path):
    """MobileNetV2's last map has 320 channels, which the check cannot know: the head left
    at 2 × 320 may be right and the neck wrong, so the sentence offers both; the neck's fix,
    followed, gives a model that runs."""
    config = tmp_path / 'mobilenet_v2_rga-sc.py'
    config.write_text(MOBILENET_WITH_RGA)
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(config))
    with pytest.raises(ConfigError) as error:
        check_heads_fit_neck(_build_model(cfg.copy(), **SMALL_HEADS))
    assert str(error.value) == (
        'model.decode_head.in_channels=640 but the map it reads (in_index=3) is the one '
        'RGANeck attends and concatenates with its attention (2 × model.neck.in_channels=96): '
        'set model.decode_head.in_channels=192, or, if that backbone map has 320 channels, '
        'model.neck.in_channels=320')
    fixed = _build_model(cfg.copy(), **SMALL_HEADS, **{'model.neck.in_channels': 320})
    check_heads_fit_neck(fixed)
    assert _forward(fixed).shape == (1, 19, 8, 8)


def test_a_head_reading_several_maps_names_the_position_of_the_attended_one(tmp_path):
    """UPerHead reads all four ResNet-18 maps (in_channels [64, 128, 256, 512]); the neck
    doubles the last, so position 3 must take 1024."""
    config = tmp_path / 'upernet_r18_rga-sc.py'
    config.write_text(UPERNET_WITH_RGA)
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(config))
    model = _build_model(cfg.copy(), **SMALL_UPERNET)
    _assert_refused_before_a_shape_error(model, (
        'model.decode_head.in_channels[3]=512 but the map it reads (in_index[3]=3) is the one '
        'RGANeck attends and concatenates with its attention (2 × model.neck.in_channels='
        '512): set model.decode_head.in_channels[3]=1024'), expected_channels=512)
    fixed = _build_model(cfg.copy(), **SMALL_UPERNET,
                         **{'model.decode_head.in_channels': [64, 128, 256, 1024]})
    check_heads_fit_neck(fixed)
    assert _forward(fixed).shape == (1, 19, 16, 16)  # mode tensor: the stride-4 logits


def test_init_model_and_the_tools_check_the_heads(tiny, tmp_path):
    cfg = tiny[1]
    wide = {'model.decode_head.in_channels': 2048}
    with pytest.raises(ConfigError, match='set model.decode_head.in_channels=1024'):
        init_model(cfg.filename, cfg_options=wide)
    train = load_script(ROOT / 'tools/train.py', 'train')
    with pytest.raises(SystemExit, match='^model.decode_head.in_channels=2048 but the map'):
        train.main([cfg.filename, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                    'model.decode_head.in_channels=2048'])
    assert not list((tmp_path / 'work').rglob('*.pth'))


@pytest.mark.parametrize('run', ['train', 'test'])
def test_the_shipped_hook_checks_the_heads_in_any_runner(tiny, tmp_path, run):
    """mmseg's own tools build ``Runner.from_cfg(cfg)`` and call ``train()`` or ``test()``
    without rga_mm's checks; the Cityscapes configs' hook stops them before the first
    forward, with the same sentence."""
    cfg = tiny[1].copy()
    assert Config.fromfile(str(CONFIG)).custom_hooks == [
        dict(type='rga_mm.CheckHeadsFitNeckHook'), dict(type='rga_mm.IterationSeedHook')]
    cfg.merge_from_dict({'model.decode_head.in_channels': 2048, 'work_dir': str(tmp_path),
                         'custom_hooks': [dict(type='rga_mm.CheckHeadsFitNeckHook')]})
    name_runs_apart(cfg)  # Runners built in one second would share mmengine's visualizer
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ConfigError, match='^model.decode_head.in_channels=2048 but the map'):
        getattr(runner, run)()
    assert runner.iter == 0


def test_a_split_folder_without_images_names_the_folder_and_the_pattern(tiny):
    data_root, cfg = tiny
    for image in (data_root / 'leftImg8bit/val').rglob('*.png'):
        image.unlink()
    with pytest.raises(DatasetError) as error:
        _build_dataset(cfg.val_dataloader.dataset)
    assert str(error.value) == (
        f'{data_root}/leftImg8bit/val holds no images named *_leftImg8bit.png (in it or its '
        f'city folders): point data_root and data_prefix.img_path at a Cityscapes '
        f'leftImg8bit/<split> folder')


def test_a_split_folder_that_does_not_exist_is_named_with_the_fix(tiny):
    data_root, cfg = tiny
    missing = data_root / 'leftImg8bit/val'
    shutil.rmtree(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'{missing} does not exist: point data_root (and data_prefix.img_path) at a '
            f'Cityscapes root holding leftImg8bit/<split> and gtFine/<split>')):
        _build_dataset(cfg.val_dataloader.dataset)


def test_check_dataset_stops_on_an_empty_split_with_that_sentence(tiny, capsys):
    data_root, cfg = tiny
    for image in (data_root / 'leftImg8bit/train').rglob('*.png'):
        image.unlink()
    check_dataset = load_script(ROOT / 'tools/misc/check_dataset.py', 'check_dataset')
    with pytest.raises(SystemExit, match=re.escape(
            f'train: {data_root}/leftImg8bit/train holds no images named *_leftImg8bit.png')):
        check_dataset.main([cfg.filename])


def test_missing_train_id_maps_name_the_folder_and_the_pattern(tiny):
    """labelIds but no labelTrainIds: cityscapesscripts' conversion was not run."""
    data_root, cfg = tiny
    for label in (data_root / 'gtFine/val').rglob('*_labelTrainIds.png'):
        label.rename(str(label).replace('labelTrainIds', 'labelIds'))
    with pytest.raises(DatasetError) as error:
        _build_dataset(cfg.val_dataloader.dataset)
    assert str(error.value) == (
        f'{data_root}/gtFine/val holds none of the label maps of the 2 images, e.g. '
        f'tinycity_000000_000019_gtFine_labelTrainIds.png: each *_leftImg8bit.png needs a '
        f"*_gtFine_labelTrainIds.png of the same frame, which mmseg's "
        f'tools/dataset_converters/cityscapes.py writes from the gtFine '
        f'*_gtFine_polygons.json files')


@pytest.mark.parametrize('split', ['train', 'val'])
def test_a_label_map_of_another_size_names_both_files_and_sizes(tiny, split):
    """Training crops and test resizes would otherwise hide (or trip on) the difference."""
    data_root, cfg = tiny
    stem = 'tinycity_000000_000019'
    label = data_root / f'gtFine/{split}/tinycity/{stem}_gtFine_labelTrainIds.png'
    Image.fromarray(np.zeros((64, 100), np.uint8)).save(label)
    dataset = _build_dataset(cfg[f'{split}_dataloader'].dataset)
    image = data_root / f'leftImg8bit/{split}/tinycity/{stem}_leftImg8bit.png'
    with pytest.raises(DatasetError) as error:
        dataset[0]
    assert str(error.value) == (
        f'label map {label} is 64×100 but its image {image} is 64×128: each '
        f"*_gtFine_labelTrainIds.png must have its *_leftImg8bit.png's size, so replace the "
        f'label map (or the image) with the one of the same frame')
    assert dataset[1]['inputs'].shape[0] == 3  # the other frame loads


def test_a_colour_label_map_names_its_channels_when_loaded_and_checked(tiny, capsys):
    """A trainIds map saved as RGB (the index in all three channels) has values in range and
    the image's size: unnamed, mmseg's loss would fail on a (H, W, 3) target."""
    data_root, cfg = tiny
    label = data_root / 'gtFine/train/tinycity/tinycity_000000_000019_gtFine_labelTrainIds.png'
    train_ids = np.asarray(Image.open(label))
    Image.fromarray(np.repeat(train_ids[..., None], 3, axis=2)).save(label)
    sentence = ('has 3 channels (64×128): a label map holds one class index per pixel, so '
                'save it as a single-channel (8-bit grayscale or palette) PNG of the class '
                'indices, not as a colour image')
    with pytest.raises(DatasetError, match=re.escape(f'label map {label} {sentence}')):
        _build_dataset(cfg.train_dataloader.dataset)[0]
    check_dataset = load_script(ROOT / 'tools/misc/check_dataset.py', 'check_dataset')
    assert check_dataset.main([cfg.filename]) == 1
    assert f'{label}: {sentence}' in capsys.readouterr().out


@pytest.mark.parametrize('split', ['train', 'val'])
def test_label_ids_where_train_ids_belong_name_the_file_the_values_and_the_converter(
        tiny, split):
    data_root, cfg = tiny
    label = data_root / f'gtFine/{split}/tinycity/tinycity_000001_000019_gtFine_labelTrainIds.png'
    label_ids = np.full((64, 128), 7, np.uint8)  # road, sky, car, bicycle of labelIds
    label_ids[:16], label_ids[16:32], label_ids[32:40] = 23, 26, 33
    Image.fromarray(label_ids).save(label)
    dataset = _build_dataset(cfg[f'{split}_dataloader'].dataset)
    with pytest.raises(DatasetError) as error:
        dataset[1]
    assert str(error.value) == (
        f'label map {label} holds values 23, 26, 33, outside the trainIds 0..18 and 255: it '
        f"looks like a *_gtFine_labelIds.png map, so run mmseg's "
        f'tools/dataset_converters/cityscapes.py on the Cityscapes root to write the '
        f'*_gtFine_labelTrainIds.png maps and point seg_map_suffix at them')
    assert dataset[0]['data_samples'].gt_sem_seg.data.max() <= 255  # trainIds load


def test_values_beyond_every_cityscapes_id_are_not_taken_for_label_ids(tiny):
    """34 and 200 are neither trainIds nor labelIds (0..33): no converter run helps."""
    data_root, cfg = tiny
    label = data_root / 'gtFine/train/tinycity/tinycity_000001_000019_gtFine_labelTrainIds.png'
    values = np.zeros((64, 128), np.uint8)
    values[:8], values[8:16] = 34, 200
    Image.fromarray(values).save(label)
    with pytest.raises(DatasetError) as error:
        _build_dataset(cfg.train_dataloader.dataset)[1]
    assert str(error.value) == (
        f'label map {label} holds values 34, 200, outside the trainIds 0..18 and 255, and '
        f"outside the labelIds 0..33 too: it is no Cityscapes label map (damaged, or of "
        f"another dataset), so write it again with mmseg's "
        f'tools/dataset_converters/cityscapes.py from its *_gtFine_polygons.json')


def test_the_label_check_follows_load_annotations_once(tiny):
    from rga_mm.datasets.cityscapes import CheckCityscapesLabelMap
    cfg = tiny[1]
    for split in ('train', 'val'):
        steps = _build_dataset(cfg[f'{split}_dataloader'].dataset).pipeline.transforms
        names = [type(step).__name__ for step in steps]
        position = names.index('LoadAnnotations')
        assert names[position + 1] == 'CheckCityscapesLabelMap'
        assert names.count('CheckCityscapesLabelMap') == 1
        assert repr(steps[position + 1]) == repr(CheckCityscapesLabelMap(
            19, 255, '_leftImg8bit.png', '_gtFine_labelTrainIds.png'))


def test_a_split_without_label_maps_loads_when_its_pipeline_reads_none(tiny):
    """mmseg's format-only test (predictions of a split without gtFine): no LoadAnnotations,
    no label maps needed; the check step lets images through without a label map, as the
    inferencers run it (they drop LoadAnnotations from the test pipeline, not this step)."""
    from rga_mm.datasets.cityscapes import CheckCityscapesLabelMap
    data_root, cfg = tiny
    for label in (data_root / 'gtFine/val').rglob('*.png'):
        label.unlink()
    dataset_cfg = cfg.val_dataloader.dataset.copy()
    dataset_cfg.pipeline = [step for step in dataset_cfg.pipeline
                            if step['type'] != 'LoadAnnotations']
    dataset = _build_dataset(dataset_cfg)
    assert len(dataset) == 2 and dataset[0]['inputs'].shape[0] == 3
    image_only = dict(img_path='a.png', ori_shape=(4, 8), img=np.zeros((4, 8, 3), np.uint8))
    assert CheckCityscapesLabelMap()(dict(image_only)).keys() == image_only.keys()



def test_the_pipeline_check_names_the_datasets_own_suffixes(tiny):
    """A dataset whose label maps have another suffix gets the sentences check_dataset gives
    for it (not Cityscapes' converter advice)."""
    data_root, cfg = tiny
    for label in data_root.rglob('*_gtFine_labelTrainIds.png'):
        label.rename(str(label).replace('_gtFine_labelTrainIds.png', '_classes.png'))
    label = data_root / 'gtFine/val/tinycity/tinycity_000001_000019_classes.png'
    Image.fromarray(np.full((64, 128), 40, np.uint8)).save(label)
    dataset_cfg = cfg.val_dataloader.dataset.copy()
    dataset_cfg.seg_map_suffix = '_classes.png'
    with pytest.raises(DatasetError) as error:
        _build_dataset(dataset_cfg)[1]
    assert str(error.value) == (
        f'label map {label} holds values 40, outside the classes 0..18 and the ignore_index '
        f"255: give each pixel its class index or 255, or set the dataset's metainfo classes "
        f'to those of the *_classes.png maps')


_CLASSES = ("CheckCityscapesLabelMap num_classes must be a positive int (the dataset's "
            'classes, whose trainIds run 0..num_classes − 1; 19 for Cityscapes), got ')
_IGNORED = ("CheckCityscapesLabelMap: ignore_index is the label of ignored pixels (the "
            "dataset's ignore_index), an int such as 255 for Cityscapes, got ")


@pytest.mark.parametrize('options, message', [
    (dict(num_classes=0), _CLASSES + '0'),
    (dict(num_classes='19'), _CLASSES + "'19'"),
    (dict(num_classes=19.0), _CLASSES + '19.0'),
    (dict(ignore_index='255'),
     _IGNORED + "'255' (str); write it as a whole number, without quotes"),
    (dict(ignore_index=255.0),
     _IGNORED + '255.0 (float); write it as a whole number, without quotes'),
], ids=['num_classes=0', "num_classes='19'", 'num_classes=19.0', "ignore_index='255'",
        'ignore_index=255.0'])
def test_the_label_check_refuses_bad_settings_at_build(options, message):
    """Not at the first label map, which would be blamed for them (or numpy's type error)."""
    from rga_mm.datasets.cityscapes import CheckCityscapesLabelMap
    with pytest.raises(ConfigError) as error:
        CheckCityscapesLabelMap(**options)
    assert str(error.value) == message


def test_a_quoted_ignore_index_of_the_dataset_is_refused_at_build(tiny):
    """The dataset hands its ignore_index to the label check it inserts."""
    dataset_cfg = tiny[1].val_dataloader.dataset.copy()
    dataset_cfg.ignore_index = '255'
    with pytest.raises(ConfigError) as error:
        _build_dataset(dataset_cfg)
    assert str(error.value) == _IGNORED + "'255' (str); write it as a whole number, without quotes"


def test_mmcvs_image_loading_step_in_a_segmentation_pipeline_is_checked_too(tiny):
    """The dataset swaps mmcv's LoadImageFromFile for rga_mm's, with the same settings: a
    misspelt decoding flag is refused when the dataset is built, as in a re-ID pipeline."""
    dataset_cfg = tiny[1].val_dataloader.dataset.copy()
    dataset_cfg.pipeline = [dict(step) for step in dataset_cfg.pipeline]
    loading = next(step for step in dataset_cfg.pipeline if step['type'] == 'LoadImageFromFile')
    loading['color_type'] = 'colour'
    with pytest.raises(ConfigError, match=r"^LoadImageFromFile: color_type is mmcv's decoding "
                                          r"flag, .*got 'colour'; did you mean 'color'\?$"):
        _build_dataset(dataset_cfg)
