"""RGANeck on map 0 of mmseg's own DeepLabV3+ config (paper §4.2's neck moved to layer1): the
head's c1 branch reads map 0 whatever its ``in_index``, so it must take the neck's 2·C there,
as docs/segmentation.md, "Add RGA to your mmseg config", says."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from rga_mm.errors import ConfigError
from rga_mm.models.necks import check_heads_fit_neck

DEEPLABV3PLUS_WITH_RGA_ON_LAYER1 = """\
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
model = dict(neck=dict(type='rga_mm.RGANeck', in_channels=64, spatial_size=(16, 16),
                       in_index=0))
"""
# CPU-sized: no pretrained download, plain BN, narrow heads
SMALL = {'model.pretrained': None, 'model.backbone.norm_cfg.type': 'BN',
         'model.decode_head.norm_cfg.type': 'BN', 'model.decode_head.channels': 16,
         'model.decode_head.c1_channels': 8, 'model.auxiliary_head.norm_cfg.type': 'BN',
         'model.auxiliary_head.channels': 8}


def _build(tmp_path, **options):
    from mmseg.registry import MODELS
    config = tmp_path / 'deeplabv3plus_r18-d8_rga-sc-layer1.py'
    config.write_text(DEEPLABV3PLUS_WITH_RGA_ON_LAYER1)
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict({**SMALL, **options})
    return MODELS.build(cfg.model).eval()


def _forward(model) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.randn(1, 3, 64, 64), mode='tensor')


def test_the_c1_branch_reading_the_attended_map_is_named_before_its_shape_error(tmp_path):
    model = _build(tmp_path)
    with pytest.raises(ConfigError) as error:
        check_heads_fit_neck(model)
    assert str(error.value) == (
        'model.decode_head.c1_in_channels=64 but the map it reads (map 0, through its c1 '
        'branch) is the one RGANeck attends and concatenates with its attention (2 × '
        'model.neck.in_channels=64): set model.decode_head.c1_in_channels=128')
    with pytest.raises(RuntimeError, match='expected input.* to have 64 channels'):
        _forward(model)  # what the check saves the user from


def test_the_advice_followed_builds_a_model_that_runs(tmp_path):
    """The decode head's own in_channels (map 3, 512) stays as it is."""
    fixed = _build(tmp_path, **{'model.decode_head.c1_in_channels': 128})
    check_heads_fit_neck(fixed)
    assert fixed.decode_head.in_channels == 512
    assert _forward(fixed).shape == (1, 19, 16, 16)  # mode tensor: the stride-4 logits
