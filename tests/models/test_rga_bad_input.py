"""Bad input raises one clear sentence, never a silent broadcast."""
import re

import pytest
import torch

from rga_mm.errors import ConfigError
from rga_mm.models.attention import RGA, FCSpatial
from rga_mm.models.necks import RGANeck


def test_wrong_channel_count():
    with pytest.raises(ValueError, match='built for 8 channels but the feature map has 4'):
        RGA(8, spatial_size=(4, 4), reduction=2)(torch.randn(2, 4, 4, 4))


@pytest.mark.parametrize('shape', [(8, 4, 4), (2, 8, 4, 4, 1), (8, 16)])
def test_non_4d_input(shape):
    with pytest.raises(ValueError, match=f'expects a 4-D .* got a {len(shape)}-D tensor'):
        RGA(8, spatial_size=(4, 4), reduction=2)(torch.randn(*shape))


def test_channel_reduction_larger_than_channels():
    with pytest.raises(ValueError, match='ratio 16 does not fit a node feature dimension of '
                                         'size 8'):
        RGA(8, spatial_size=(8, 8), reduction=16)


def test_reduction_larger_than_node_count():
    # 2×2 map: the spatial relation embedding would map 2N = 8 → N / 8 = 0 channels
    with pytest.raises(ValueError, match='ratio 8 does not fit a node count of size 4'):
        RGA(64, spatial_size=(2, 2))


def test_unknown_mode_and_path():
    with pytest.raises(ValueError, match="mode must be one of"):
        RGA(8, spatial_size=(4, 4), mode='SS')
    with pytest.raises(ValueError, match="relation_path must be one of"):
        RGA(8, spatial_size=(4, 4), reduction=2, relation_path='sparse')


def test_both_terms_ablated():
    with pytest.raises(ValueError, match='needs the relation term, the appearance term'):
        RGA(8, spatial_size=(4, 4), reduction=2, use_relation=False, use_appearance=False)


@pytest.mark.parametrize('module', [RGA, FCSpatial, RGANeck])
def test_one_int_is_a_square_map_size(module):
    square, pair = module(16, 4, reduction=2), module(16, (4, 4), reduction=2)
    assert ({name: value.shape for name, value in square.state_dict().items()}
            == {name: value.shape for name, value in pair.state_dict().items()})


@pytest.mark.parametrize('spatial_size', [0, (4, ), (4, 0), (4.0, 4), 'ab', None])
@pytest.mark.parametrize('module', [RGA, FCSpatial, RGANeck])
def test_a_malformed_map_size_is_one_clear_error(module, spatial_size):
    with pytest.raises(ConfigError, match=rf'{module.__name__} spatial_size must be \(h, w\) '
                                          rf'with ints h, w >= 1 \(or one int for a square '
                                          rf'map\), got {re.escape(repr(spatial_size))}'):
        module(16, spatial_size, reduction=2)


@pytest.mark.parametrize('gate', ['spatial_attention', 'channel_attention'])
def test_each_gate_checks_the_map_it_reads(gate):
    """The gates are public (visualisation reads them): another size or channel count is
    the module's own error, not a silent pooling or a convolution's shape error."""
    rga = RGA(16, spatial_size=(4, 4), reduction=2)
    with pytest.raises(ConfigError, match='RGA was built for a 4×4 map but received 6×5'):
        getattr(rga, gate)(torch.randn(2, 16, 6, 5))
    with pytest.raises(ConfigError, match='built for 16 channels but the feature map has 8'):
        getattr(rga, gate)(torch.randn(2, 8, 4, 4))
