"""The RGA neck of paper §4.2: x → cat([x, RGA-SC(x)]) on the last backbone map."""
import re

import numpy as np
import pytest
import torch

from rga_mm.errors import ConfigError
from rga_mm.models.attention import RGA
from rga_mm.models.necks import RGANeck
from rga_mm.registry import MODELS


def _maps(channels=16, size=(9, 11), batch=2):
    return (torch.randn(batch, 4, 20, 20), torch.randn(batch, 8, 9, 11),
            torch.randn(batch, channels, *size))


def test_registered_and_built_from_an_mmseg_scope_type():
    neck = MODELS.build(dict(type='rga_mm.RGANeck', in_channels=16, spatial_size=(5, 5)))
    assert isinstance(neck, RGANeck) and neck.rga.mode == 'SC' and neck.out_channels == 32


def test_last_map_doubles_its_channels_and_keeps_its_first_half():
    neck = RGANeck(16, spatial_size=(9, 11), reduction=2)
    inputs = _maps()
    outputs = neck(inputs)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    assert outputs[0] is inputs[0] and outputs[1] is inputs[1]
    assert outputs[2].shape == (2, 32, 9, 11)
    assert torch.equal(outputs[2][:, :16], inputs[2])


def test_second_half_is_rga_sc_of_the_map():
    neck = RGANeck(16, spatial_size=(9, 11), reduction=2).eval()
    reference = RGA(16, (9, 11), mode='SC', reduction=2).eval()
    reference.load_state_dict(neck.rga.state_dict())
    inputs = _maps()
    torch.testing.assert_close(neck(inputs)[2][:, 16:], reference(inputs[2]))


def test_in_index_picks_the_map():
    neck = RGANeck(8, spatial_size=(9, 11), in_index=1, reduction=2)
    inputs = _maps()
    outputs = neck(inputs)
    assert outputs[1].shape == (2, 16, 9, 11) and outputs[2] is inputs[2]


@pytest.mark.parametrize('size', [(9, 11), (13, 13), (4, 6), (1, 1), (16, 32), (5, 5)])
@pytest.mark.parametrize('relation_path', ['factorized', 'dense'])
def test_other_map_sizes_go_through_the_reference_grid(size, relation_path):
    """One neck built for a crop's grid serves training crops and whole-image testing."""
    neck = RGANeck(16, spatial_size=(5, 5), reduction=2, relation_path=relation_path).eval()
    x = _maps(size=size, batch=1)[2]
    out = neck((x, ))[0]
    assert out.shape == (1, 32, *size) and torch.isfinite(out).all()
    assert torch.equal(out[:, :16], x)  # cat([x, RGA-SC(x)])
    # RGA-SC multiplies x by a spatial and a channel sigmoid, both in (0, 1): every element
    # keeps its sign and shrinks, whatever the map size
    attended = out[:, 16:]
    assert (attended * x >= 0).all() and (attended.abs() <= x.abs()).all()
    assert not torch.equal(attended, x)
    if size == (5, 5):  # the built grid: the paper's fixed-size RGA-SC, with the same weights
        fixed = RGA(16, (5, 5), mode='SC', reduction=2, relation_path=relation_path).eval()
        fixed.load_state_dict(neck.rga.state_dict())
        torch.testing.assert_close(attended, fixed(x))


def test_factorized_and_dense_necks_agree_on_another_size():
    factorized = RGANeck(16, (5, 5), reduction=2).double().eval()
    dense = RGANeck(16, (5, 5), reduction=2, relation_path='dense').double().eval()
    dense.load_state_dict(factorized.state_dict())
    x = (torch.randn(2, 16, 12, 24, dtype=torch.float64),)
    torch.testing.assert_close(dense(x)[0], factorized(x)[0], rtol=0, atol=1e-10)


def test_gradients_reach_the_neck_and_the_input():
    neck = RGANeck(16, (5, 5), reduction=2)
    x = torch.randn(2, 16, 7, 7, requires_grad=True)
    neck((x,))[0].sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in neck.parameters() if p.requires_grad)
    assert torch.isfinite(x.grad).all() and not torch.equal(x.grad, torch.ones_like(x))
    for name, param in neck.named_parameters():
        assert torch.isfinite(param.grad).all(), name
    # Every parameter moves the output in eval mode. (In training mode a few gradients are 0
    # up to BN's eps at initialisation, whatever the code: gate_mlp.1's 1×1 conv scales the
    # one channel a batch-statistics BN then normalises, BN(w·y) = BN(y) for w > 0, and with
    # gate_mlp.0's BN bias at 0, ReLU(γ z) = γ ReLU(z) makes its γ a scale too.)
    neck.eval().zero_grad()
    neck((torch.randn(2, 16, 7, 7),))[0].sum().backward()
    for name, param in neck.named_parameters():
        assert torch.isfinite(param.grad).all() and param.grad.abs().max() > 1e-3, name


def test_channel_mismatch_names_the_option():
    neck = RGANeck(2048, (5, 5))
    with pytest.raises(ValueError, match=r'in_channels=2048 .*1024 channels.*'
                                         r"neck's in_channels=1024.*in_channels=2048"):
        neck((torch.randn(1, 1024, 5, 5),))


def test_channel_mismatch_at_another_index_advises_only_the_head_of_that_map():
    """PSPNet: the auxiliary head reads map 2, the decode head map 3; a neck on map 2 doubles
    only map 2, so the advice must not tell the decode head to take 2·C of map 2."""
    neck = RGANeck(512, (5, 5), in_index=1)
    with pytest.raises(ConfigError) as error:
        neck(_maps())
    message = str(error.value)
    assert "neck's in_channels=8" in message
    assert 'head that reads map 1 must take in_channels=16' in message
    assert 'heads that read other maps keep their channels' in message
    assert "decode head's in_channels" not in message


def test_fixed_size_neck_names_both_sizes_and_its_own_keys():
    neck = RGANeck(16, (5, 5), reduction=2, variable_size=False)
    with pytest.raises(ValueError, match=re.escape(
            'RGANeck was built for a 5×5 map (model.neck.spatial_size) but the backbone map at '
            'in_index=-1 is 7×9: set model.neck.spatial_size=(7, 9) for this input size, or '
            'model.neck.variable_size=True to attend any size through its reference grid')):
        neck((torch.randn(1, 16, 7, 9),))
    assert neck((torch.randn(1, 16, 5, 5),))[-1].shape == (1, 32, 5, 5)


def test_fixed_size_neck_in_eval_mode_is_told_what_whole_image_testing_needs():
    """Testing whole images after training on crops: a spatial_size fitting the test map
    would no longer fit the training crops (for one export size it would do)."""
    neck = RGANeck(16, (5, 5), reduction=2, variable_size=False).eval()
    with pytest.raises(ValueError, match=re.escape(
            'RGANeck was built for a 5×5 map (model.neck.spatial_size) but the backbone map at '
            'in_index=-1 is 7×9: set model.neck.spatial_size=(7, 9) for this input size, or '
            'model.neck.variable_size=True to attend any size through its reference grid; a '
            'model trained on crops and tested on whole images needs variable_size=True, as '
            'one spatial_size cannot fit both')):
        neck((torch.randn(1, 16, 7, 9),))


def test_an_empty_map_is_refused():
    neck = RGANeck(16, (5, 5), reduction=2)
    with pytest.raises(ValueError, match=r'0×4 map.*too small'):
        neck((torch.randn(1, 16, 0, 4),))


def test_a_grid_smaller_than_the_reduction_is_refused():
    with pytest.raises(ValueError, match=r'spatial_size=\(1, 2\) gives 2 reference positions'):
        RGANeck(16, (1, 2))


def test_bad_in_index_and_bad_in_channels():
    with pytest.raises(ConfigError, match=r'in_index=5 but the backbone returns 3 maps: '
                                          r'set in_index to one of -3\.\.2'):
        RGANeck(16, (5, 5), in_index=5)(_maps())
    with pytest.raises(ConfigError, match='in_index=-4 but the backbone returns 3 maps'):
        RGANeck(16, (5, 5), in_index=-4)(_maps())
    with pytest.raises(ValueError, match='positive int'):
        RGANeck([16], (5, 5))
    with pytest.raises(ConfigError, match=r'^RGANeck received no backbone map'):
        RGANeck(16, (5, 5))(())


@pytest.mark.parametrize('in_index', ['3', [2, 3], 3.0, None])
def test_an_in_index_that_is_not_an_int_is_refused_when_built(in_index):
    with pytest.raises(ConfigError, match=re.escape(
            f"RGANeck in_index must be an int (the position of the attended map in the "
            f"backbone's outputs, -1 for the last), got {in_index!r}")):
        RGANeck(16, (5, 5), in_index=in_index)
    assert type(RGANeck(16, (5, 5), in_index=np.int64(1)).in_index) is int


def test_in_channels_of_any_integer_type_are_stored_as_an_int():
    neck = RGANeck(np.int64(16), (5, 5))
    assert type(neck.in_channels) is int and neck.in_channels == 16
    with pytest.raises(ConfigError, match=r'^RGANeck in_channels must be a positive int \(the '
                                          r'channels of the attended backbone map\), got True$'):
        RGANeck(True, (5, 5))


def test_an_option_rga_does_not_take_is_named_with_the_closest_one():
    with pytest.raises(ConfigError, match=re.escape(
            "RGANeck does not take ['varaible_size']; varaible_size: did you mean "
            "variable_size? (it takes ['in_channels', 'spatial_size', 'in_index', "
            "'variable_size', 'init_cfg'] and RGA's ['mode', 'reduction'")):
        RGANeck(16, (5, 5), varaible_size=True)
    assert RGANeck(16, (5, 5), reduction=4, mode='S').rga.mode == 'S'  # RGA's own options pass


def test_a_misspelt_reduction_is_named_before_the_grid_is_judged_by_the_default():
    with pytest.raises(ConfigError, match=r"RGANeck does not take \['reducton'\]; reducton: "
                                          r'did you mean reduction\?'):
        RGANeck(16, (2, 2), reducton=2)
