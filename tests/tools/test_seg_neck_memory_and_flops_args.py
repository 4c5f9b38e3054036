"""tools/analysis_tools/seg_neck_memory.py and get_flops.py refuse what they cannot measure
in one sentence: seg_neck_memory.py's sizes, relation paths and --model-config before any
measurement, get_flops.py a model that cannot run at the input size. Both run in this
process (``tool_runs.run_in_process``)."""
import re
import subprocess
from pathlib import Path

import pytest

from rga_mm.engine.launch import segmentation_unavailable
from rga_mm.models.attention.rga import MAX_WEIGHTS
from rga_mm.testing import load_script
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
seg_neck_memory = load_script(ROOT / 'tools/analysis_tools/seg_neck_memory.py',
                              'seg_neck_memory')
get_flops = load_script(ROOT / 'tools/analysis_tools/get_flops.py')

CIFAR = ROOT / 'configs/cifar/densenet-bc-k12-l100_1xb64-300e_cifar10.py'
# small sizes, no other grids: a run of the neck takes well under a second
SMALL = ('--channels', 16, '--grid', 4, 4, '--crop', 4, 4, '--whole', 4, 4, '--other-grids')
# a d8 ResNet-18 of 8 base channels with an RGA neck on its last map, no auxiliary head
TINY_SEGMENTOR = """\
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder', _scope_='mmseg', pretrained=None,
    backbone=dict(type='ResNetV1c', depth=18, base_channels=8, out_indices=(3, ),
                  strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), norm_cfg=norm_cfg),
    neck=dict(type='rga_mm.RGANeck', in_channels=64, spatial_size=(4, 4),
              relation_path='factorized', norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=128, channels=8, num_convs=1,
                     num_classes=2, norm_cfg=norm_cfg),
    auxiliary_head=None,
    test_cfg=dict(mode='whole'))
"""
needs_mmseg = pytest.mark.skipif(bool(segmentation_unavailable()),
                                 reason='needs the segmentation extra')


def _seg_neck_memory(*args: object) -> subprocess.CompletedProcess:
    """tools/analysis_tools/seg_neck_memory.py run on ``args`` in this process."""
    return run_in_process(seg_neck_memory, *args)


def _tiny_segmentor(tmp_path: Path, extra: str = '') -> Path:
    """A config file of :data:`TINY_SEGMENTOR` followed by ``extra`` lines."""
    config = tmp_path / 'tiny_segmentor.py'
    config.write_text(TINY_SEGMENTOR + extra)
    return config


@pytest.mark.parametrize('args, message', [
    (('--paths', 'bogus'), "argument --paths: must be a relation path (dense, factorized), "
                           "got 'bogus'"),
    (('--paths', 'factorized', 'bogus'), "argument --paths: must be a relation path (dense, "
                                         "factorized), got 'bogus'"),
    (('--channels', 0), 'argument --channels: must be a positive integer, got 0'),
    (('--crop', 0, 0), 'argument --crop: must be a positive integer, got 0'),
    (('--whole', 0, 16), 'argument --whole: must be a positive integer, got 0'),
    (('--crop', -8, 8), 'argument --crop: must be a positive integer, got -8'),
    (('--image', 0, 128), 'argument --image: must be a positive integer, got 0')])
def test_seg_neck_memory_refuses_bad_sizes_and_paths_in_argparse(args, message):
    result = _seg_neck_memory(*SMALL, *args)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == f'seg_neck_memory.py: error: {message}'


@needs_mmseg
def test_seg_neck_memory_refuses_a_config_that_is_no_segmentor_before_measuring():
    result = _seg_neck_memory(*SMALL, '--model-config', CIFAR)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == (
        f"--model-config {CIFAR} builds 'ImageClassifier', which is not an mmseg segmentor: "
        'give a segmentation config with an RGANeck neck, such as '
        'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py')


@needs_mmseg
def test_seg_neck_memory_refuses_a_segmentor_without_an_rga_neck_before_measuring(tmp_path):
    config = _tiny_segmentor(tmp_path, "model.update(neck=None)\n")
    result = _seg_neck_memory(*SMALL, '--model-config', config)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == (
        f'--model-config {config} has no RGANeck neck (its model.neck is missing): give a '
        'segmentation config with an RGANeck neck, such as '
        'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py')


@needs_mmseg
def test_seg_neck_memory_refuses_a_segmentor_that_cannot_be_built_before_measuring(tmp_path):
    config = _tiny_segmentor(tmp_path, "model['neck']['spatial_size'] = (2, 2)\n")
    result = _seg_neck_memory(*SMALL, '--model-config', config)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.splitlines()[-1].startswith(
        f'--model-config {config} cannot be built (ConfigError: RGANeck spatial_size=(2, 2) '
        'gives 4 reference positions, fewer than reduction=8')


@needs_mmseg
def test_seg_neck_memory_runs_a_segmentor_without_auxiliary_head(tmp_path):
    """No auxiliary head (nor its norm_cfg) to make plain BN; SyncBN elsewhere becomes BN."""
    result = _seg_neck_memory(*SMALL, '--model-config', _tiny_segmentor(tmp_path),
                              '--image', 32, 32)
    assert result.returncode == 0, result.stderr
    for path in ('factorized', 'dense'):
        assert (f'[{path}] whole model tiny_segmentor.py on 1x3x32x32: logits (1, 2, 4, 4)'
                in result.stdout)


@needs_mmseg
def test_seg_neck_memory_names_an_image_the_model_cannot_run_on(tmp_path):
    config = _tiny_segmentor(tmp_path, "model['neck']['variable_size'] = False\n")
    result = _seg_neck_memory(*SMALL, '--paths', 'factorized', '--model-config', config,
                              '--image', 16, 16)
    assert result.returncode == 1 and 'whole model' not in result.stdout
    assert result.stderr.splitlines()[-1].startswith(
        '--image 16 16: the model cannot run on a 16×16 image (MapSizeError: RGANeck was built '
        'for a 4×4 map (model.neck.spatial_size) but the backbone map at in_index=-1 is 2×2')
    assert result.stderr.splitlines()[-1].endswith('); pass an --image size it can take')


def test_seg_neck_memory_names_maps_too_large_to_allocate():
    """A 100000×100000 whole map of 64 channels (2.6 TB): the allocator's RuntimeError was a
    traceback after the first lines."""
    result = _seg_neck_memory('--channels', 64, '--grid', 8, 8, '--other-grids', 4, '--crop',
                              9, 9, '--whole', 100000, 100000, '--paths', 'factorized')
    assert result.returncode == 1
    assert re.fullmatch(r'the factorized neck could not run on the maps asked for '
                        r'\(RuntimeError: .*\); pass a smaller --whole or --crop',
                        result.stderr.strip().splitlines()[-1])
    assert 'Traceback' not in result.stderr


def test_get_flops_names_a_shape_the_model_cannot_run_at():
    result = run_in_process(get_flops, CIFAR, '--shape', 3, 3)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        '--shape 3 3: the model cannot run on a 3×3 input (RuntimeError: Given input size: '
        '(150x1x1). Calculated output size: (150x0x0). Output size is too small); pass a '
        '--shape it can take')


def test_get_flops_names_the_configs_input_size_the_model_cannot_run_at(tmp_path):
    config = tmp_path / 'cifar_3x3.py'
    config.write_text(f"_base_ = ['{CIFAR}']\ninput_size = (3, 3)\n")
    result = run_in_process(get_flops, config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "the config's input_size (3, 3), used as no --shape was given: the model cannot run "
        'on a 3×3 input (RuntimeError: Given input size: (150x1x1).')


@pytest.mark.parametrize('size', ['64', 'None', '(32, 32, 3)', '(32, 0)'])
def test_get_flops_names_a_config_size_that_is_no_pair(tmp_path, size):
    config = tmp_path / 'cifar_size.py'
    config.write_text(f"_base_ = ['{CIFAR}']\ninput_size = {size}\n")
    result = run_in_process(get_flops, config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"the config's input_size is {eval(size)!r}, not an (H, W) pair of positive integers: "
        f"pass --shape H W")


@pytest.mark.parametrize('text, message', [
    ('x = 1\n', 'the config {config} has no model to build: it needs model=dict(type=..., ...)'),
    ("data_preprocessor = dict(type='X')\n",
     'the config {config} has no model to build: it needs model=dict(type=..., ...)'),
    ("model = dict(type='Nope')\n", "type='Nope' is not in the rga_mm::model registry: check "
     "the spelling in the config, or that its custom_imports import the module that "
     "registers it"),
    ('model = dict(\n', "config {config} is not valid Python: '(' was never closed on line 1"),
])
def test_get_flops_names_a_config_without_a_buildable_model(tmp_path, text, message):
    config = tmp_path / 'broken.py'
    config.write_text(text)
    result = run_in_process(get_flops, config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1] == message.format(config=config)


@pytest.mark.parametrize('other_grids, most', [((), 20695), ((97, 25), 18467)])
def test_seg_neck_memory_names_too_many_channels_and_the_most_that_fit(other_grids, most):
    """Channels too many for any grid were blamed on the grid (RGA's spatial_size
    sentence); the most named fit --grid 33 33 and every one of --other-grids."""
    result = _seg_neck_memory('--channels', 10_000_000, '--other-grids', *other_grids)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == (
        'seg_neck_memory.py: error: argument --channels: an RGANeck of 10000000 channels would '
        'hold about 62500.00 G weights even at the smallest grid, more than RGA takes (0.27 G): '
        f'give --channels {most} or fewer')
    grids = [(33, 33), *((side, side) for side in other_grids)]
    assert max(seg_neck_memory.weight_count(most, grid) for grid in grids) <= MAX_WEIGHTS
    assert max(seg_neck_memory.weight_count(most + 1, grid) for grid in grids) > MAX_WEIGHTS


def test_seg_neck_memory_still_names_a_grid_too_large_for_its_channels():
    result = _seg_neck_memory('--channels', 16, '--grid', 1000, 1000, '--other-grids')
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1].startswith(
        'seg_neck_memory.py: error: grid 1000x1000: RGA(in_channels=16, spatial_size=(1000, '
        "1000), mode='SC', reduction=8) would hold about ")


def test_seg_neck_memory_help_explains_the_neck_sizes_and_what_model_config_runs(monkeypatch):
    monkeypatch.setenv('COLUMNS', '500')  # one line per option
    result = _seg_neck_memory('--help')
    assert result.returncode == 0
    text = ' '.join(result.stdout.split())
    for line in ("--channels CHANNELS C, the channels of the attended map (the neck's "
                 "in_channels; default: 2048, ResNet-101's last stage)",
                 "--grid H W the neck's spatial_size, the reference grid the map is pooled "
                 'onto (default: 33 33)',
                 '--other-grids [SIDE ...] square grids (SIDE×SIDE) at which to count the '
                 'parameters of the neck of --channels; none to skip (default: 97 49 33 25)',
                 "(slow: ResNet-101 at 1024x2048) with the config's own neck (its in_channels "
                 'and spatial_size) instead of --channels and --grid, which size the bare neck '
                 'only; --paths still sets its relation path'):
        assert line in text
