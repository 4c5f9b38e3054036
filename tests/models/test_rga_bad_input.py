"""Bad input raises one clear sentence, never a silent broadcast."""
import pytest
import torch

from rga_mm.models.attention import RGA


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
