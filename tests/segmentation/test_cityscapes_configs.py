"""The Cityscapes configs of paper §4.2 / Table 6: mmseg's configs plus the RGA neck."""
import re
from pathlib import Path

import mmseg
import pytest
from mmengine.config import Config

from rga_mm.models.necks import RGANeck

ROOT = Path(__file__).parents[2]
MMSEG_CONFIGS = Path(mmseg.__file__).parent / '.mim/configs'  # what mmseg:: resolves to
CONFIGS = {
    'fcn': ('FCNHead', 'fcn/fcn_r101-d8_4xb2-80k_cityscapes-769x769.py'),
    'pspnet': ('PSPHead', 'pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-769x769.py'),
    'deeplabv3': ('ASPPHead', 'deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-769x769.py'),
}


def _path(name: str) -> Path:
    return ROOT / f'configs/cityscapes/{name}_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'


@pytest.mark.parametrize('name', CONFIGS)
def test_config_is_mmseg_r101_d8_plus_the_neck(name):
    head, base = CONFIGS[name]
    text = _path(name).read_text()
    assert f"_base_ = ['mmseg::{base}']" in text  # inherited, not copied
    cfg = Config.fromfile(str(_path(name)))
    base_cfg = Config.fromfile(str(MMSEG_CONFIGS / base))
    assert cfg.default_scope == 'mmseg' and 'rga_mm' in cfg.custom_imports.imports
    model = cfg.model
    assert model.backbone.depth == 101 and model.backbone.strides == (1, 2, 1, 1)
    assert model.decode_head.type == head
    assert model.neck.type == 'rga_mm.RGANeck' and model.neck.mode == 'SC'
    assert model.neck.in_channels == base_cfg.model.decode_head.in_channels == 2048
    assert model.decode_head.in_channels == 2 * model.neck.in_channels
    assert model.decode_head.channels == base_cfg.model.decode_head.channels == 512
    assert model.auxiliary_head == base_cfg.model.auxiliary_head  # layer3, untouched
    # mmseg's crops and schedule; whole-image testing at the native 1024×2048
    assert cfg.crop_size == (769, 769) and cfg.train_cfg.max_iters == 80000
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.model.test_cfg.mode == 'whole'
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (2048, 1024)
    # slide testing is one option away
    cfg.merge_from_dict({'model.test_cfg.mode': 'slide'})
    assert cfg.model.test_cfg.crop_size == (769, 769)


def test_readme_states_the_built_neck_size_and_its_parameters():
    cfg = Config.fromfile(str(_path('pspnet')))
    neck = RGANeck(**{k: v for k, v in cfg.model.neck.items()
                      if k not in ('type', 'norm_cfg')})
    count = sum(p.numel() for p in neck.parameters())
    text = (ROOT / 'configs/cityscapes/README.md').read_text()
    for name in CONFIGS:
        assert Config.fromfile(str(_path(name))).model.neck == cfg.model.neck
    size = 'x'.join(map(str, cfg.model.neck.spatial_size)).replace('x', '×')
    assert f'Built size {size}, {count:,} neck parameters' in text
    stated = re.search(r'33×33 \(the configs\)\*\* \| 1089 \| \*\*([\d.]+) M', text).group(1)
    assert abs(float(stated) - count / 1e6) < 0.05
