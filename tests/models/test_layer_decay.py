"""mmpretrain's layer-wise learning-rate decay over a StageAttentionBackbone: the wrapped
backbone's parameters keep the depth mmpretrain gives them, an attention trains at the
depth of the stage it follows, the head at the head's."""
import pytest
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from rga_mm.registry import MODELS

DECAY = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
             constructor='mmpretrain.LearningRateDecayOptimWrapperConstructor',
             paramwise_cfg=dict(layer_decay_rate=0.5))


def _classifier(backbone: dict, channels: int):
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # the classifier's own parts
        return MODELS.build(dict(type='mmpretrain.ImageClassifier', backbone=backbone,
                                 head=dict(type='mmpretrain.LinearClsHead', num_classes=10,
                                           in_channels=channels)))


def _wrapped(backbone: dict, attentions: dict, channels: int):
    return _classifier(dict(type='rga_mm.StageAttentionBackbone', backbone=backbone,
                            attentions=attentions), channels)


def _groups(model) -> dict[str, dict]:
    """Parameter name → its param group, as the decay constructor builds them."""
    optimizer = build_optim_wrapper(model, DECAY).optimizer
    return {group['param_name']: group for group in optimizer.param_groups}


def _unwrapped(name: str) -> str:
    return name.replace('backbone.backbone.', 'backbone.', 1)


@pytest.mark.parametrize('backbone, attentions, channels, expected', [
    (dict(type='mmpretrain.ResNet', depth=50),
     dict(layer1=dict(type='rga_mm.SE', in_channels=256),
          layer4=dict(type='rga_mm.SE', in_channels=2048)),
     2048, dict(layer1=1, layer4=6)),  # ResNet-50: layer1 is layer 1, layer4 is layer 6
    (dict(type='mmpretrain.ConvNeXt', arch='atto'),
     {'stages.2': dict(type='rga_mm.SE', in_channels=160)},
     320, dict(stages_2=4)),  # 6 blocks in stage 2 at 3 per layer: layers 3 and 4
])
def test_attentions_take_their_stage_depth_and_the_backbone_keeps_its_own(
        backbone, attentions, channels, expected):
    plain = _groups(_classifier(backbone, channels))
    wrapped = _groups(_wrapped(backbone, attentions, channels))

    inner = {name: group for name, group in wrapped.items() if 'attentions' not in name}
    assert {_unwrapped(name): group['layer_id'] for name, group in inner.items()} == \
        {name: group['layer_id'] for name, group in plain.items()}
    assert {_unwrapped(name): group['lr'] for name, group in inner.items()} == \
        {name: group['lr'] for name, group in plain.items()}
    for key, layer_id in expected.items():
        stage = [g for n, g in wrapped.items() if n.startswith(f'backbone.attentions.{key}.')]
        stage_name = key.replace('_', '.')
        deepest = max(g['layer_id'] for n, g in plain.items()
                      if n.startswith(f'backbone.{stage_name}.'))
        assert stage and {g['layer_id'] for g in stage} == {layer_id} == {deepest}
        same_depth = next(g for g in plain.values() if g['layer_id'] == layer_id)
        assert {g['lr'] for g in stage} == {same_depth['lr']}


def test_a_stage_without_parameters_gives_its_attention_depth_zero():
    groups = _groups(_wrapped(dict(type='mmpretrain.ResNet', depth=50),
                              dict(maxpool=dict(type='rga_mm.SE', in_channels=64)), 2048))
    attention = {g['layer_id'] for n, g in groups.items() if 'attentions.maxpool' in n}
    assert attention == {0}


def test_a_backbone_without_layer_depths_is_refused_naming_it():
    model = _wrapped(dict(type='mmpretrain.LeNet5'),
                     dict(features=dict(type='rga_mm.SE', in_channels=120)), 84)
    with pytest.raises(NotImplementedError, match='LeNet5 wrapped by StageAttentionBackbone'):
        build_optim_wrapper(model, DECAY)
