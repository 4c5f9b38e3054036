"""Paper §4.2 "Discussion": other input sizes through the RoIAlign reference grid."""
import pytest
import torch
import torch.nn.functional as F

from rga_mm.models.attention import RGA
from rga_mm.models.attention.reference_grid import pool_to_grid
from rga_mm.models.attention.rga import MODES


def test_pooling_onto_the_same_size_is_the_identity():
    x = torch.randn(2, 5, 7, 3, dtype=torch.float64)
    assert torch.equal(pool_to_grid(x, (7, 3)), x)


def test_pooling_averages_regular_blocks():
    """A 2×2-block-constant map pools back to its blocks exactly."""
    coarse = torch.randn(2, 3, 4, 3, dtype=torch.float64)
    fine = F.interpolate(coarse, scale_factor=2, mode='nearest')
    torch.testing.assert_close(pool_to_grid(fine, (4, 3)), coarse, rtol=0, atol=1e-12)


@pytest.mark.parametrize('mode', MODES)
def test_variable_size_equals_fixed_size_when_sizes_match(mode):
    fixed = RGA(8, spatial_size=(6, 4), mode=mode, reduction=2).double()
    variable = RGA(8, spatial_size=(6, 4), mode=mode, reduction=2, variable_size=True).double()
    variable.load_state_dict(fixed.state_dict())
    x = torch.randn(2, 8, 6, 4, dtype=torch.float64)
    assert torch.equal(variable(x), fixed(x))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('relation_path', ['dense', 'factorized'])
def test_an_upsampled_map_gets_the_upsampled_attention(mode, relation_path):
    """Nearest ×2 upsampling commutes with RGA: 1×1 convs, eval BN and the gates are
    pointwise, and RoIAlign pools the duplicated pixels back onto the built grid."""
    module = RGA(8, spatial_size=(5, 3), mode=mode, reduction=2, variable_size=True,
                 relation_path=relation_path).double().eval()
    x = torch.randn(2, 8, 5, 3, dtype=torch.float64)
    x_up = F.interpolate(x, scale_factor=2, mode='nearest')
    expected = F.interpolate(module(x), scale_factor=2, mode='nearest')
    torch.testing.assert_close(module(x_up), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize('size', [(12, 8), (3, 2), (7, 7), (5, 9)])
@pytest.mark.parametrize('relation_path', ['dense', 'factorized'])
def test_larger_smaller_and_non_square_maps(size, relation_path):
    module = RGA(8, spatial_size=(6, 4), reduction=2, variable_size=True,
                 relation_path=relation_path)
    x = torch.randn(2, 8, *size, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in module.parameters() if p.requires_grad)


def test_paths_agree_on_another_size():
    dense = RGA(8, spatial_size=(6, 4), reduction=2, variable_size=True,
                relation_path='dense').double()
    factorized = RGA(8, spatial_size=(6, 4), reduction=2, variable_size=True).double()
    factorized.load_state_dict(dense.state_dict())
    x = torch.randn(2, 8, 9, 5, dtype=torch.float64)
    torch.testing.assert_close(factorized(x), dense(x), rtol=0, atol=1e-10)


def test_size_mismatch_without_the_option_names_both_sizes():
    module = RGA(16, spatial_size=(64, 32), reduction=2)
    with pytest.raises(ValueError) as info:
        module(torch.randn(1, 16, 32, 16))
    message = str(info.value)
    assert '64×32' in message and '32×16' in message and 'variable_size=True' in message
