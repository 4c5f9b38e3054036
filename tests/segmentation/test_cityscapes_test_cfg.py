"""A Cityscapes segmentor's ``model.test_cfg`` is checked when the model is built, not at the
first validation (paper §4.2 tests whole images; mmseg's slide windows are one option away):
a misspelt mode, or 'slide' without its window size and step or with a step beyond the window,
is one sentence naming the key.
The head check of the RGA neck runs once per tools/train.py run, though the configs also list
it as a hook for mmseg's own tools. Real tiny Cityscapes tree, real ResNet-18 PSPNet + RGA-SC."""
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import rga_mm.engine.hooks.head_fit_hook as head_fit_hook
import rga_mm.models.segmentor_checks as segmentor_checks
from rga_mm.apis import init_model
from rga_mm.errors import ConfigError
from rga_mm.testing import load_script
from tiny_cityscapes import ROOT, write_tiny_setup

WITH_HOOK = """_base_ = ['{config}']
custom_hooks = [dict(type='rga_mm.CheckHeadsFitNeckHook')]  # as the shipped configs list it
"""


@pytest.fixture
def tiny(tmp_path) -> Config:
    """The ResNet-18 PSPNet + RGA-SC config on a tiny Cityscapes tree."""
    _, config = write_tiny_setup(tmp_path)
    init_default_scope('mmseg')
    return Config.fromfile(str(config))


def _with_test_cfg(cfg: Config, test_cfg: dict) -> Config:
    """``cfg`` with ``model.test_cfg`` replaced (not merged) by ``test_cfg``."""
    cfg = cfg.copy()
    cfg.model.test_cfg = test_cfg
    return cfg


BAD_TEST_CFGS = {
    'slidee': (dict(mode='slidee', crop_size=(64, 64), stride=(48, 48)),
               "model.test_cfg.mode='slidee' is not a test mode of mmseg's EncoderDecoder: set "
               "model.test_cfg.mode to 'whole' or 'slide' (did you mean 'slide'?)"),
    'slide without keys': (
        dict(mode='slide'),
        "model.test_cfg.mode='slide' needs model.test_cfg.crop_size and model.test_cfg.stride "
        '(the (h, w) size of its windows and the (h, w) step between its windows), which the '
        'config does not set: set model.test_cfg.crop_size and model.test_cfg.stride to (h, w) '
        "pairs, as mmseg's configs do (crop_size=(769, 769) and stride=(513, 513) for 769×769 "
        'training crops)'),
    'slide with one stride': (
        dict(mode='slide', crop_size=(64, 64), stride=48),
        "model.test_cfg.stride=48 but model.test_cfg.mode='slide' needs the (h, w) step between "
        'its windows, two positive ints: set model.test_cfg.stride=(h, w)'),
    'slide with gaps between windows': (
        dict(mode='slide', crop_size=(32, 32), stride=(32, 33)),
        'model.test_cfg.stride=(32, 33) steps further than the windows of '
        'model.test_cfg.crop_size=(32, 32) reach: on an image more than two windows long, '
        'pixels between windows would get no prediction (mmseg stops on them at its first '
        "validation); set a stride of at most the crop size, as mmseg's configs do "
        '(crop_size=(769, 769), stride=(513, 513))'),
}


@pytest.mark.parametrize('case', BAD_TEST_CFGS)
def test_a_test_cfg_mmseg_cannot_run_is_named_when_the_model_is_built(tiny, case):
    test_cfg, sentence = BAD_TEST_CFGS[case]
    with pytest.raises(ConfigError) as error:
        init_model(_with_test_cfg(tiny, test_cfg))
    assert str(error.value) == sentence


@pytest.mark.parametrize('test_cfg', [dict(mode='whole'),
                                      dict(mode='slide', crop_size=(64, 64), stride=[48, 48]),
                                      dict(mode='slide', crop_size=(32, 32), stride=(32, 32))])
def test_the_two_modes_of_encoder_decoder_pass(tiny, test_cfg):
    assert init_model(_with_test_cfg(tiny, test_cfg)).test_cfg.mode == test_cfg['mode']


def test_mmseg_leaves_pixels_between_windows_unpredicted(tiny):
    """Why a stride beyond the window is refused: mmseg's own sliding inference stops on
    the pixels no window covers (a 50-wide image, 16-wide windows 17 apart: columns 16 and
    33; windows 16 apart cover it)."""
    segmentor = init_model(tiny).eval()
    image, metas = torch.zeros(1, 3, 16, 50), [dict(img_shape=(16, 50))]
    segmentor.test_cfg = Config(dict(mode='slide', crop_size=(16, 16), stride=(16, 17)))
    with torch.no_grad(), pytest.raises(AssertionError):
        segmentor.slide_inference(image, metas)
    segmentor.test_cfg.stride = (16, 16)
    with torch.no_grad():
        assert segmentor.slide_inference(image, metas).shape == (1, 19, 16, 50)


def test_train_stops_on_a_misspelt_mode_before_training(tiny, tmp_path):
    """Unchecked, mmseg's assertion stops the run at its first validation, after training
    up to it (here iteration 2, with a checkpoint written)."""
    train = load_script(ROOT / 'tools/train.py', 'train')
    with pytest.raises(SystemExit, match=re.escape(BAD_TEST_CFGS['slidee'][1])):
        train.main([tiny.filename, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                    'model.test_cfg.mode=slidee'])
    assert not list((tmp_path / 'work').rglob('*.pth'))


def test_train_checks_the_heads_once_with_the_configs_hook(tiny, tmp_path, monkeypatch):
    """tools/train.py checks the model it builds, before loading a checkpoint; the hook the
    Cityscapes configs list for mmseg's tools would check it again before the run."""
    calls = []

    def counted(segmentor):
        calls.append(type(segmentor).__name__)
        return check(segmentor)

    check = segmentor_checks.check_heads_fit_neck
    monkeypatch.setattr(segmentor_checks, 'check_heads_fit_neck', counted)
    monkeypatch.setattr(head_fit_hook, 'check_heads_fit_neck', counted)
    config = tmp_path / 'with_hook.py'
    config.write_text(WITH_HOOK.format(config=tiny.filename))
    train = load_script(ROOT / 'tools/train.py', 'train')
    train.main([str(config), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                'train_cfg.max_iters=1', 'train_cfg.val_interval=1'])
    assert calls == ['EncoderDecoder']
