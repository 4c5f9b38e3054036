"""tools/visualization/vis_attention.py on configs of all three tasks.

Each run draws real PNGs from a checkpoint of the config's model: the re-ID demo config
(4 RGA gates, CAM of the embedding), the CIFAR-10 ResNet-110 + RGA-SC config (1 gate, CAM of
a class) and the PSPNet + RGA-SC Cityscapes config shrunk to ResNet-18 (the RGANeck gate,
CAM of a class). The PNG must have the grid's exact size and show the input in its true
colours (a red/blue image stays red on the left). Image files must also reach the model in
the channel order of the dataset items it was trained on.
"""
import re
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from rga_mm.apis import init_model
from rga_mm.registry import DATASETS
from rga_mm.synthetic import generate_synthetic_market
from rga_mm.testing import load_script
from rga_mm.visualization.attention_visualizer import PANEL_GAP, TITLE_HEIGHT
from rga_mm.visualization.explain import explain_attention
from rga_mm.visualization.image_inputs import (
    config_test_pipeline,
    file_pipeline,
    load_image_file,
)
from tool_runs import run_with_file_size_limit

ROOT = Path(__file__).parents[2]
REID_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
CIFAR_CONFIG = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
SEG_CONFIG = ROOT / 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'
TINY_SEG = '''
_base_ = ['{config}']
bn = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=bn),
    neck=dict(in_channels=512, spatial_size=(5, 5), norm_cfg=bn),
    decode_head=dict(in_channels=1024, channels=16, norm_cfg=bn),
    auxiliary_head=dict(in_channels=256, channels=8, norm_cfg=bn))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')]))
'''


def _tool():
    return load_script(ROOT / 'tools/visualization/vis_attention.py', 'vis_attention')


def vis_attention(*argv: str) -> None:
    _tool().main([str(arg) for arg in argv])


def save_checkpoint(config: Path, path: Path) -> Path:
    torch.save({'state_dict': init_model(config).state_dict()}, path)
    return path


def red_blue_image(path: Path, height: int, width: int) -> Path:
    """Left half pure red, right half pure blue (RGB), saved losslessly."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :width // 2, 0] = 255
    rgb[:, width // 2:, 2] = 255
    mmcv.imwrite(rgb[..., ::-1], str(path))
    return path


def check_grid(png: Path, image_size: tuple, panel_height: int, num_panels: int) -> None:
    grid = mmcv.imread(str(png), channel_order='rgb').astype(int)
    panel_width = image_size[1] * panel_height // image_size[0]
    assert grid.shape == (TITLE_HEIGHT + panel_height,
                          num_panels * panel_width + (num_panels - 1) * PANEL_GAP, 3)
    shown = grid[TITLE_HEIGHT:, :panel_width]
    left, right = shown[:, :panel_width // 2 - 2], shown[:, panel_width // 2 + 2:]
    assert (left[..., 0] > 200).all() and (left[..., 2] < 50).all()  # red stays red
    assert (right[..., 2] > 200).all() and (right[..., 0] < 50).all()


def test_reid_grid_has_every_rga_gate_and_the_embedding_cam(tmp_path, capsys):
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    images = tmp_path / 'images'
    images.mkdir()
    red_blue_image(images / 'a.png', 128, 64)
    red_blue_image(images / 'b.jpg', 96, 48)
    (tmp_path / 'more').mkdir()
    red_blue_image(tmp_path / 'more/a.png', 64, 32)  # the name of another image: a_2.png
    vis_attention(REID_CONFIG, checkpoint, images, tmp_path / 'more/a.png', '--out',
                  tmp_path / 'out', '--panel-height', 128)
    # resized to 64×32 by the test pipeline; input + 4 gates + CAM
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a.png', 'a_2.png', 'b.png']
    for name in ('a', 'b', 'a_2'):
        png = tmp_path / 'out' / f'{name}.png'
        grid = mmcv.imread(str(png))
        assert grid.shape == (TITLE_HEIGHT + 128, 6 * 64 + 5 * PANEL_GAP, 3)
    check_grid(tmp_path / 'out/a.png', (64, 32), 128, num_panels=6)
    printed = capsys.readouterr().out
    assert 'layer1, layer2, layer3, layer4; CAM of the embedding norm' in printed


def test_cifar_grid_and_the_input_size_option(tmp_path, capsys):
    checkpoint = save_checkpoint(CIFAR_CONFIG, tmp_path / 'cifar.pth')
    image = red_blue_image(tmp_path / 'frog.png', 32, 32)
    vis_attention(CIFAR_CONFIG, checkpoint, image, '--out', tmp_path / 'out',
                  '--target-class', 6, '--weighting', 'channel')
    check_grid(tmp_path / 'out/frog.png', (32, 32), 256, num_panels=3)  # input, layer1, CAM
    assert 'layer1; CAM of the class 6' in capsys.readouterr().out

    large = red_blue_image(tmp_path / 'large.png', 48, 48)
    with pytest.raises(SystemExit, match=r"large.png: StageAttentionBackbone stage 'layer1' "
                                         r"\(attentions\['layer1'\]\): RGA was built for a "
                                         r'32×32 map but received 48×48.*pass --input-size H W'):
        vis_attention(CIFAR_CONFIG, checkpoint, large, '--out', tmp_path / 'out')
    vis_attention(CIFAR_CONFIG, checkpoint, large, '--out', tmp_path / 'out',
                  '--input-size', 32, 32)
    check_grid(tmp_path / 'out/large.png', (32, 32), 256, num_panels=3)


def test_segmentation_grid_has_the_neck_gate_and_a_class_cam(tmp_path, capsys):
    config = tmp_path / 'tiny_pspnet.py'
    config.write_text(TINY_SEG.format(config=SEG_CONFIG))
    checkpoint = save_checkpoint(config, tmp_path / 'seg.pth')
    image = red_blue_image(tmp_path / 'street.png', 64, 128)
    vis_attention(config, checkpoint, image, '--out', tmp_path / 'out', '--panel-height', 64)
    check_grid(tmp_path / 'out/street.png', (64, 128), 64, num_panels=3)
    printed = capsys.readouterr().out
    assert 'neck.rga; CAM of the class ' in printed


def test_a_segmentation_size_refusal_offers_no_input_size_and_options_read_as_given(tmp_path):
    """A neck without variable_size refuses the whole image; --input-size, which the
    config's resizing pipeline refuses, is not offered. A mistyped --cfg-options key is
    named as the command line gives it."""
    config = tmp_path / 'tiny_pspnet.py'
    config.write_text(TINY_SEG.format(config=SEG_CONFIG))
    options = ['--cfg-options', 'model.neck.variable_size=False']
    checkpoint = save_checkpoint(config, tmp_path / 'seg.pth')
    image = red_blue_image(tmp_path / 'street.png', 64, 128)
    with pytest.raises(SystemExit) as stop:
        vis_attention(config, checkpoint, image, '--out', tmp_path / 'out', *options)
    assert 'RGANeck was built for a ' in str(stop.value)
    assert '--input-size' not in str(stop.value)
    with pytest.raises(SystemExit, match=r"^--cfg-options model\.decode_head\.num_clases: "
                                         r"model\.decode_head in the config has no key "
                                         r"'num_clases'; did you mean 'num_classes'\?"):
        vis_attention(config, checkpoint, image, '--out', tmp_path / 'out', '--cfg-options',
                      'model.decode_head.num_clases=3')


def test_a_segmentation_class_no_pixel_is_predicted_as_is_said_by_name(tmp_path, capsys):
    """Every pixel is predicted as class 0 (its bias dominates): the CAM of --target-class 1
    explains that class's mean logit over all pixels, and the printed line says so, naming
    the classes from the checkpoint's dataset_meta as a Runner saves it."""
    from mmseg.datasets import CityscapesDataset
    config = tmp_path / 'tiny_pspnet.py'
    config.write_text(TINY_SEG.format(config=SEG_CONFIG))
    state_dict = init_model(config).state_dict()
    state_dict['decode_head.conv_seg.bias'][0] = 1e3
    classes = list(CityscapesDataset.METAINFO['classes'])
    checkpoint = tmp_path / 'seg.pth'
    torch.save({'state_dict': state_dict, 'meta': {'dataset_meta': {'classes': classes}}},
               checkpoint)
    image = red_blue_image(tmp_path / 'street.png', 64, 128)
    for target_class in (0, 1):
        vis_attention(config, checkpoint, image, '--out', tmp_path / f'out{target_class}',
                      '--panel-height', 64, '--target-class', target_class)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split('; ', 1)[1] for line in printed] == [
        'CAM of the class 0 (road))',
        'CAM of the class 1 (sidewalk; no pixel predicted as it: mean over all pixels))']


def test_bad_inputs_are_named(tmp_path):
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    with pytest.raises(SystemExit, match='image .*missing.png does not exist'):
        vis_attention(REID_CONFIG, checkpoint, tmp_path / 'missing.png', '--out', tmp_path)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(SystemExit, match='folder .*empty holds no image file'):
        vis_attention(REID_CONFIG, checkpoint, empty, '--out', tmp_path)
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    with pytest.raises(SystemExit, match=re.escape(
            f'cannot read image {not_an_image}: 12 bytes that cv2 cannot decode')):
        vis_attention(REID_CONFIG, checkpoint, not_an_image, '--out', tmp_path / 'out')
    with pytest.raises(SystemExit, match='checkpoint file .*nope.pth does not exist'):
        vis_attention(REID_CONFIG, tmp_path / 'nope.pth', not_an_image, '--out',
                      tmp_path / 'out')
    image = red_blue_image(tmp_path / 'a.png', 64, 32)
    a_file = tmp_path / 'notes'
    a_file.write_text('a file')
    for out in (a_file, a_file / 'below'):  # refused before the model loads
        with pytest.raises(SystemExit, match=rf'--out {re.escape(str(out))}: .*notes is a '
                                             r'file, not a folder; choose another folder'):
            vis_attention(REID_CONFIG, tmp_path / 'nope.pth', image, '--out', out)
    train_and_val_only = tmp_path / 'train_and_val_only.py'
    train_and_val_only.write_text(f"_base_ = ['{REID_CONFIG}']\ntest_dataloader = None\n")
    with pytest.raises(SystemExit, match='train_and_val_only.py has no test_dataloader.dataset'
                                         '.pipeline, which turns image files into model inputs'):
        vis_attention(train_and_val_only, checkpoint, image, '--out', tmp_path / 'out')


def test_an_empty_or_slashed_image_file_is_named_once_in_one_sentence(tmp_path):
    tool = _tool()
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(SystemExit) as stop:
        tool.check_images_readable([empty])
    assert str(stop.value) == (f'cannot read image {empty}: the file is empty (0 bytes); '
                               f'replace it or leave it out')
    image = red_blue_image(tmp_path / 'a.png', 64, 32)
    with pytest.raises(SystemExit) as stop:
        tool.expand_images([f'{image}/'])
    assert str(stop.value) == f"image {image}/ is a file, not a folder: drop the trailing '/'"


def test_a_dataset_file_reaches_the_model_as_the_dataset_item_does(tmp_path):
    root = generate_synthetic_market(
        str(tmp_path), num_train_ids=2, num_test_ids=2, num_cameras=2,
        cameras_per_id=(2, 2), images_per_camera=(2, 2), query_cameras_per_id=(1, 1),
        num_distractors=0, num_junk=0, seed=1)
    test_set = Config.fromfile(REID_CONFIG).test_dataloader.dataset
    dataset = DATASETS.build(dict(test_set, data_root=str(root)))
    pipeline, channel_order = file_pipeline(test_set.pipeline)
    assert channel_order == 'bgr'  # LoadImageFromFile decodes to BGR
    item = dataset[0]
    from_file = load_image_file(item['data_samples'].img_path, pipeline, channel_order)
    assert torch.equal(from_file['inputs'], item['inputs'])


def test_cifar_files_are_read_as_rgb_like_its_arrays(tmp_path):
    cfg = Config.fromfile(CIFAR_CONFIG)
    init_default_scope(cfg.default_scope)  # as init_model does: PackInputs is mmpretrain's
    pipeline, channel_order = file_pipeline(cfg.test_dataloader.dataset.pipeline)
    assert channel_order == 'rgb'  # mmpretrain's CIFAR holds RGB arrays, no loading step
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mmcv.imwrite(rgb[..., ::-1], str(tmp_path / 'image.png'))
    packed = load_image_file(str(tmp_path / 'image.png'), pipeline, channel_order)
    # what PackInputs makes of the dataset's (H, W, 3) RGB array
    assert torch.equal(packed['inputs'], torch.from_numpy(rgb).permute(2, 0, 1))
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    with pytest.raises(ValueError, match='notes.png could not be decoded'):
        load_image_file(str(not_an_image), pipeline, channel_order)


@pytest.mark.parametrize('option, message', [
    (('--panel-height', 0), 'argument --panel-height: must be at least 8 pixels, got 0'),
    (('--panel-height', 7), 'argument --panel-height: must be at least 8 pixels, got 7'),
    (('--input-size', 0, 0), 'argument --input-size: must be a positive integer, got 0'),
    (('--input-size', 64, -32), 'argument --input-size: must be a positive integer, got -32'),
    (('--input-size', 50000, 50000), 'argument --input-size: must be at most 4096 (the side '
                                     'of an image a model takes), got 50000'),
])
def test_sizes_outside_the_bounds_are_refused_by_argparse(tmp_path, capsys, option, message):
    """Before anything is loaded: neither the checkpoint nor the image exists."""
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', tmp_path / 'missing.png',
                      '--out', tmp_path / 'out', *option)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f': error: {message}')
    assert not (tmp_path / 'out').exists()


def test_an_input_size_the_test_pipeline_resizes_again_is_refused(tmp_path):
    """The re-ID test pipeline resizes every image to 64×32, the segmentation one to fit
    128×64 keeping the aspect ratio (the Cityscapes configs' to fit 2048×1024): after
    --input-size, so the model would not see its size. It is refused, naming the pipeline's
    resize, before any image is read or the output folder made."""
    seg_config = tmp_path / 'tiny_pspnet.py'
    seg_config.write_text(TINY_SEG.format(config=SEG_CONFIG))
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    for config, input_size, resize in (
            (REID_CONFIG, (128, 64), 'to 64×32'),
            (seg_config, (32, 64), 'to fit 128×64 \\(long × short side\\) keeping the aspect '
                                   'ratio')):
        checkpoint = save_checkpoint(config, tmp_path / 'model.pth')
        height, width = input_size
        with pytest.raises(SystemExit, match=f"^--input-size {height} {width}: the config's "
                                             f'test pipeline resizes every image after it, '
                                             f'{resize}, so the model would not see '
                                             f'{height}×{width}; leave it out'):
            vis_attention(config, checkpoint, not_an_image, '--out', tmp_path / 'out',
                          '--input-size', height, width)
        assert not (tmp_path / 'out').exists()
    with pytest.raises(SystemExit, match="^--input-size 64 32: the config's test pipeline "
                                         "already resizes every image to 64×32; leave it "
                                         "out$"):
        vis_attention(REID_CONFIG, save_checkpoint(REID_CONFIG, tmp_path / 'model.pth'),
                      not_an_image, '--out', tmp_path / 'out', '--input-size', 64, 32)


def test_the_resize_of_each_tasks_test_pipeline_is_said():
    """The sentence of the refusal above for each task's config: CIFAR's pipeline has none,
    so --input-size applies there."""
    pipelines = {config: config_test_pipeline(Config.fromfile(str(config)))
                 for config in (REID_CONFIG, CIFAR_CONFIG, SEG_CONFIG)}
    resize = {config: _tool().pipeline_resize(pipeline) for config, pipeline in pipelines.items()}
    assert resize == {REID_CONFIG: 'to 64×32', CIFAR_CONFIG: None,
                      SEG_CONFIG: 'to fit 2048×1024 (long × short side) keeping the aspect '
                                  'ratio'}


def test_a_target_class_or_cam_layer_the_model_cannot_take_is_refused_first(tmp_path):
    """The re-ID CAM explains the embedding norm, which has no classes: a target class is
    refused before any image is read or the output folder is made; so are an empty CAM layer
    name and one the model lacks."""
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    with pytest.raises(SystemExit, match=r'^--target-class 5 is for classification and '
                                         r'segmentation models, but this re-ID model has no '
                                         r'classes \(its CAM explains the embedding norm\): '
                                         r'leave --target-class out$'):
        vis_attention(REID_CONFIG, checkpoint, not_an_image, '--out', tmp_path / 'out',
                      '--target-class', 5)
    assert not (tmp_path / 'out').exists()
    cifar = save_checkpoint(CIFAR_CONFIG, tmp_path / 'cifar.pth')
    for target_class in (10, -1):  # CIFAR-10: classes 0 to 9, known from its head
        with pytest.raises(SystemExit, match=f"^--target-class {target_class} is outside the "
                                             f"model's 10 classes: give one from 0 to 9$"):
            vis_attention(CIFAR_CONFIG, cifar, not_an_image, '--out', tmp_path / 'out',
                          '--target-class', target_class)
    assert not (tmp_path / 'out').exists()

    for layer, message in (('', "the CAM layer name '' is empty"),
                           ('backbone.layer9', "the model has no submodule 'backbone.layer9'")):
        with pytest.raises(SystemExit, match=f'^{re.escape(message)}'):  # not per image
            vis_attention(REID_CONFIG, checkpoint, not_an_image, '--out', tmp_path / 'out',
                          '--cam-layer', layer)
        assert not (tmp_path / 'out').exists()

    model = init_model(REID_CONFIG)
    with pytest.raises(ValueError, match=r'^target_class 0 is for classification and '
                                         r'segmentation models.*leave target_class out$'):
        explain_attention(model, torch.zeros(1, 3, 64, 32), target_class=0)


def test_a_folder_names_its_subfolders_of_images_which_are_not_read(tmp_path, capsys):
    image = np.zeros((8, 4, 3), np.uint8)
    mmcv.imwrite(image, str(tmp_path / 'a.jpg'))
    mmcv.imwrite(image, str(tmp_path / 'cam1' / 'b.jpg'))
    assert _tool().expand_images([str(tmp_path)]) == [tmp_path / 'a.jpg']
    assert capsys.readouterr().out == (
        f'{tmp_path} has 1 subfolder of images that are not read (the first: '
        f'{tmp_path / "cam1"}): only the images directly in a folder are read; move them up, '
        f'or give such a subfolder as a folder of its own\n')


@pytest.mark.parametrize('height', [2049, 100000])
def test_a_panel_height_above_the_cap_is_refused_by_argparse(tmp_path, capsys, height):
    """A grid that tall would not fit in memory: refused before anything is loaded."""
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', tmp_path / 'missing.png',
                      '--out', tmp_path / 'out', '--panel-height', height)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f': error: argument --panel-height: must be at most 2048 pixels (larger grids take '
        f'too much memory), got {height}')
    assert not (tmp_path / 'out').exists()
    args = _tool().parse_args(['config', 'checkpoint', 'image', '--out', 'out',
                               '--panel-height', '2048'])
    assert args.panel_height == 2048


def test_an_out_folder_given_as_images_is_refused(tmp_path):
    """The grids would overwrite the folder's PNG images and be read as images next run."""
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    images = tmp_path / 'images'
    images.mkdir()
    image = red_blue_image(images / 'q.png', 64, 32)
    original = image.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, checkpoint, images, '--out', images)
    assert str(exit_info.value) == (
        f'--out {images} is the image folder {images}, where the PNG grids would overwrite '
        f'its images or be read as images next time; choose another folder (a subfolder of '
        f'it is not read)')
    assert image.read_bytes() == original
    assert [path.name for path in images.iterdir()] == ['q.png']


def test_a_grid_that_would_overwrite_its_image_is_refused(tmp_path):
    """An image file whose folder is --out: its grid has its name. Checked before the model
    is built (the checkpoint does not exist)."""
    image = red_blue_image(tmp_path / 'q.png', 64, 32)
    original = image.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', image, '--out', tmp_path)
    assert str(exit_info.value) == (
        f'--out: the output {image} would overwrite the input {image}; choose another path')
    assert image.read_bytes() == original


def test_the_folder_of_an_image_given_by_name_is_refused(tmp_path):
    """A run over that folder's files (``images/*``) would draw the grids as images. Checked
    before the model is built (the checkpoint does not exist); a subfolder is taken."""
    images = tmp_path / 'images'
    images.mkdir()
    image = red_blue_image(images / 'q.jpg', 64, 32)
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', image, '--out', images)
    assert str(exit_info.value) == (
        f'--out {images} is the folder of the image {image}, where the PNG grids would be '
        f'drawn as images by a run over its files ({images}/*); choose another folder (a '
        f'subfolder of it is not read)')
    assert [path.name for path in images.iterdir()] == ['q.jpg']
    with pytest.raises(SystemExit, match='^checkpoint file .* does not exist$'):
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', image, '--out', images / 'vis')


def test_a_subfolder_of_an_image_folder_takes_the_grids(tmp_path):
    """Subfolders of an image folder are not read, so one may hold the grids."""
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    images = tmp_path / 'images'
    images.mkdir()
    red_blue_image(images / 'q.png', 64, 32)
    vis_attention(REID_CONFIG, checkpoint, images, '--out', images / 'vis',
                  '--panel-height', 32)
    assert [path.name for path in (images / 'vis').iterdir()] == ['q.png']


def test_an_out_named_like_an_image_is_refused_in_argparse(capsys):
    tool = load_script(ROOT / 'tools/visualization/vis_attention.py', 'vis_attention')
    with pytest.raises(SystemExit):
        tool.parse_args(['config.py', 'model.pth', 'a.jpg', '--out', 'grids/vis.PNG'])
    assert capsys.readouterr().err.strip().endswith(
        '--out grids/vis.PNG names an image file, but vis_attention writes a folder of PNG '
        'grids, one per image: give a folder, e.g. grids/vis')


def test_a_grid_name_taken_by_a_folder_is_refused_before_the_model_loads(tmp_path):
    """No grid is drawn (the checkpoint does not exist: it is not read)."""
    images = tmp_path / 'images'
    images.mkdir()
    red_blue_image(images / 'a.png', 64, 32)
    image = red_blue_image(images / 'b.png', 64, 32)
    (tmp_path / 'out/b.png').mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        vis_attention(REID_CONFIG, tmp_path / 'missing.pth', images, '--out', tmp_path / 'out')
    assert str(exit_info.value) == (
        f'--out {tmp_path / "out"}: {tmp_path / "out/b.png"}, the grid of the image {image}, '
        f'is a folder; move it away or choose another folder')
    assert [path.name for path in (tmp_path / 'out').iterdir()] == ['b.png']


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_a_grid_that_cannot_be_written_stops_the_tool_and_leaves_no_cut_png(tmp_path):
    """A full disk, as a file-size limit of 32 KiB makes one, after the first grid (about
    20 KB, red and blue) and before the second (about 48 KB, noise): one sentence, the first
    grid whole, an earlier second grid as it was and no partial file."""
    checkpoint = save_checkpoint(REID_CONFIG, tmp_path / 'reid.pth')
    images = tmp_path / 'images'
    images.mkdir()
    red_blue_image(images / 'a.png', 64, 32)
    noise = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    mmcv.imwrite(noise, str(images / 'b.png'))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'b.png').write_bytes(b'earlier grid')
    result = run_with_file_size_limit(
        sys.executable, 'tools/visualization/vis_attention.py', REID_CONFIG, checkpoint, images,
        '--out', out, '--panel-height', 64, limit=2**15)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f'could not write {out / "b.png"} (File too large), the earlier file left as it was: '
        f'free space on that disk or raise the file-size limit (ulimit -f)')
    assert sorted(path.name for path in out.iterdir()) == ['a.png', 'b.png']
    assert (out / 'b.png').read_bytes() == b'earlier grid'
    assert mmcv.imread(str(out / 'a.png')).shape == (TITLE_HEIGHT + 64, 6 * 32 + 5 * PANEL_GAP, 3)
