"""A module's refusal named with its place in the model (read from the traceback)."""
import pytest
import torch

import rga_mm  # noqa: F401  (registers rga_mm's modules)
from rga_mm.errors import ConfigError
from rga_mm.models.raising_module import placed_message, raising_module_path
from rga_mm.registry import MODELS


def refusal(model: torch.nn.Module, x: torch.Tensor) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        model(x)
    return error.value


@pytest.mark.parametrize('built, block, received', [((4, 4), '0', '8×8'), ((8, 8), '1', '4×4')])
def test_a_plugin_refusing_its_map_is_named_by_its_block(built, block, received):
    """In a strided stage the first block's plugin sees the map before the stride and the
    others after it: no one fixed size fits all, and the block tells which refused."""
    backbone = MODELS.build(dict(
        type='mmseg.ResNetV1c', depth=50, out_indices=(3, ),
        plugins=[dict(cfg=dict(type='rga_mm.RGA', spatial_size=built, reduction=2),
                      stages=(False, False, True, False), position='after_conv1')]))
    error = refusal(backbone, torch.randn(2, 3, 64, 64))
    assert raising_module_path(error) == f'layer3.{block}.rga'
    assert placed_message(error).startswith(
        f'layer3.{block}.rga: RGA was built for a {built[0]}×{built[1]} map but received '
        f'{received}')


class Refuses(torch.nn.Module):
    """A model that refuses its input itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError('no input is good enough')


def test_a_refusal_of_the_outermost_module_keeps_its_message():
    error = refusal(Refuses(), torch.randn(1))
    assert raising_module_path(error) is None
    assert placed_message(error) == 'no input is good enough'


def test_a_wrapped_refusal_that_names_its_place_is_left_alone():
    """StageAttentionBackbone re-raises an attention's refusal with its stage."""
    model = MODELS.build(dict(
        type='StageAttentionBackbone', backbone=dict(type='mmpretrain.ResNet', depth=18),
        attentions=dict(layer1=dict(type='RGA', in_channels=64, spatial_size=(4, 4),
                                    reduction=2))))
    error = refusal(model, torch.randn(2, 3, 64, 64))
    assert raising_module_path(error) is None
    assert str(error).startswith("StageAttentionBackbone stage 'layer1'")
    assert placed_message(error) == str(error)


def test_an_error_raised_outside_any_module_has_no_place():
    with pytest.raises(ConfigError) as error:
        raise ConfigError('a bad setting')
    assert raising_module_path(error.value) is None
