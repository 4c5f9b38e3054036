"""Checkpoints of a plain mmpretrain classifier load into the same classifier with
StageAttentionBackbone around its backbone; the wrapper's own checkpoints load unchanged.

The models are built the way a user's config builds them: mmpretrain's scope and registry,
``custom_imports`` for rga_mm, a stock ResNet-18 ``ImageClassifier``."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from rga_mm.apis.checkpoints import CheckpointError, check_checkpoint_fits
from rga_mm.models.backbones.stage_attention import as_model_reads

STOCK = """\
default_scope = 'mmpretrain'
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
resnet18 = dict(type='ResNet', depth=18)
model = dict(
    type='ImageClassifier',
    backbone=resnet18,
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
              loss=dict(type='CrossEntropyLoss')))
"""
# the same classifier with RGA after layer4 (a 64×64 input gives a 2×2 map there)
WITH_RGA = STOCK + """\
model['backbone'] = dict(
    type='rga_mm.StageAttentionBackbone',
    backbone=dict(type='mmpretrain.ResNet', depth=18),
    attentions={'layer4': dict(type='rga_mm.RGA', in_channels=512, spatial_size=(2, 2),
                               reduction=4)})
"""


def _build(tmp_path: Path, text: str, **options) -> torch.nn.Module:
    """A classifier from a config file of ``text`` (with ``options`` merged), built by
    mmpretrain's MODELS in mmpretrain's default scope."""
    from mmpretrain.registry import MODELS
    config = tmp_path / f'config_{len(list(tmp_path.glob("config_*.py")))}.py'
    config.write_text(text)
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def _save(model: torch.nn.Module, path: Path) -> Path:
    """Save ``model``'s state dict as mmengine's Runner does (under ``state_dict``)."""
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _rga_key(stock_key: str) -> str:
    """Where a stock classifier's key lives in the RGA classifier."""
    if stock_key.startswith('backbone.'):
        return 'backbone.' + stock_key
    return stock_key


@pytest.fixture
def stock_checkpoint(tmp_path) -> tuple[dict, Path]:
    """(state dict, checkpoint file) of a stock ResNet-18 classifier."""
    torch.manual_seed(1)
    stock = _build(tmp_path, STOCK)
    return stock.state_dict(), _save(stock, tmp_path / 'stock.pth')


def test_a_stock_classifier_checkpoint_fills_the_backbone_and_the_head(
        tmp_path, stock_checkpoint):
    state, checkpoint = stock_checkpoint
    model = _build(tmp_path, WITH_RGA)
    attentions = {k: v.clone() for k, v in model.state_dict().items() if '.attentions.' in k}
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=False)
    loaded = model.state_dict()
    assert state  # every backbone and head tensor of the stock classifier
    for key, value in state.items():
        torch.testing.assert_close(loaded[_rga_key(key)], value, rtol=0, atol=0)
    for key, value in attentions.items():  # left as built
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_only_the_attentions_are_missing(tmp_path, stock_checkpoint):
    model = _build(tmp_path, WITH_RGA)
    missing, unexpected = model.load_state_dict(stock_checkpoint[0], strict=False)
    assert unexpected == []
    # torch's BN fills in a num_batches_tracked the checkpoint lacks, so it is never missing
    assert set(missing) == {key for key in model.state_dict()
                            if key.startswith('backbone.attentions.layer4.')
                            and not key.endswith('.num_batches_tracked')}


def test_an_outer_pretrained_init_cfg_with_the_backbone_prefix_fills_the_backbone(
        tmp_path, stock_checkpoint):
    state, checkpoint = stock_checkpoint
    model = _build(tmp_path, WITH_RGA, **{'model.backbone.init_cfg': dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.')})
    model.init_weights()
    loaded = model.state_dict()
    backbone_keys = [key for key in state if key.startswith('backbone.')]
    assert backbone_keys
    for key in backbone_keys:
        torch.testing.assert_close(loaded[_rga_key(key)], state[key], rtol=0, atol=0)


def test_an_rga_checkpoint_round_trips_unchanged(tmp_path):
    torch.manual_seed(2)
    saved = _build(tmp_path, WITH_RGA)
    checkpoint = _save(saved, tmp_path / 'rga.pth')
    torch.manual_seed(3)
    model = _build(tmp_path, WITH_RGA)
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    expected, loaded = saved.state_dict(), model.state_dict()
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_a_state_dict_in_the_wrappers_layout_is_not_renamed(tmp_path):
    model = _build(tmp_path, WITH_RGA)
    state = model.state_dict()
    keys = list(state)
    missing, unexpected = model.load_state_dict(state, strict=True)
    assert (missing, unexpected) == ([], [])
    assert list(state) == keys  # the caller's dict is left as it was


def test_as_model_reads_gives_the_names_loading_uses(tmp_path, stock_checkpoint):
    state = stock_checkpoint[0]
    model = _build(tmp_path, WITH_RGA)
    read = as_model_reads(model, state)
    assert set(read) == {_rga_key(key) for key in state} <= set(model.state_dict())
    assert list(state)[0] == 'backbone.conv1.weight'  # the caller's dict is left as it was
    own = model.state_dict()
    assert list(as_model_reads(model, own)) == list(own)


def test_rga_mm_checks_name_only_the_attentions_missing_and_load_partially(
        tmp_path, stock_checkpoint):
    """rga_mm's refusal of a checkpoint that misses model keys compares the names as loading
    reads them: the stock checkpoint misses the attentions alone, and partial loading (the
    tools' --partial-load) accepts it."""
    state = stock_checkpoint[0]
    model = _build(tmp_path, WITH_RGA)
    attention_keys = [key for key in model.state_dict() if '.attentions.' in key
                      and not key.endswith('num_batches_tracked')]
    with pytest.raises(CheckpointError, match=rf'it misses {len(attention_keys)} of the '
                                              rf"model's \d+ keys \(backbone\.attentions\."):
        check_checkpoint_fits(model, state, 'stock.pth')
    check_checkpoint_fits(model, state, 'stock.pth', strict=False)


def test_keys_already_in_the_wrappers_layout_are_never_renamed():
    """The layout is told by any key under ``backbone.``: a state dict holding one keeps
    every key as it is, even the ones that would be renamed alone."""
    from rga_mm.models.backbones.stage_attention import _nest_backbone_keys
    inner = ['conv1.weight', 'bn1.weight']
    wrapped = {'p.backbone.conv1.weight': 1, 'p.bn1.weight': 2}
    _nest_backbone_keys(wrapped, 'p.', inner)
    assert wrapped == {'p.backbone.conv1.weight': 1, 'p.bn1.weight': 2}
    plain = {'p.conv1.weight': 1, 'p.bn1.weight': 2, 'q.conv1.weight': 3}
    _nest_backbone_keys(plain, 'p.', inner)
    assert plain == {'p.backbone.conv1.weight': 1, 'p.backbone.bn1.weight': 2,
                     'q.conv1.weight': 3}
