"""The attention zoo (SE, CBAM, FC-S/C, non-local) refuses bad arguments and bad input in one
sentence naming the module, the argument and the fix, as RGA does."""
import re
import warnings

import numpy as np
import pytest
import torch

from rga_mm.errors import ConfigError
from rga_mm.models.attention import (
    CBAM,
    RGA,
    SE,
    CBAMChannel,
    CBAMSpatial,
    FCChannel,
    FCSpatial,
    FCSpatialChannel,
    NonLocal,
)
from rga_mm.models.attention.helpers import check_feature_map

C = 32
ZOO = {
    'SE': lambda **kwargs: SE(**kwargs),
    'CBAMChannel': lambda **kwargs: CBAMChannel(**kwargs),
    'CBAMSpatial': lambda **kwargs: CBAMSpatial(**kwargs),
    'CBAM': lambda **kwargs: CBAM(**kwargs),
    'FCSpatial': lambda **kwargs: FCSpatial(spatial_size=(6, 4), **kwargs),
    'FCChannel': lambda **kwargs: FCChannel(**kwargs),
    'FCSpatialChannel': lambda **kwargs: FCSpatialChannel(spatial_size=(6, 4), **kwargs),
    'NonLocal': lambda **kwargs: NonLocal(**kwargs),
}
WITH_A_REDUCTION_OF_ITS_CHANNELS = ['SE', 'CBAMChannel', 'CBAM', 'FCSpatial', 'FCChannel',
                                    'FCSpatialChannel', 'NonLocal']
# the modules that build a norm from a config, and the argument that holds it
WITH_A_NORM_CFG = {
    'RGA': lambda **kwargs: RGA(C, (6, 4), **kwargs),
    'CBAMSpatial': lambda norm_cfg: CBAMSpatial(C, norm_cfg=norm_cfg),
    'CBAM': lambda norm_cfg: CBAM(C, spatial_norm_cfg=norm_cfg),
    'FCSpatial': lambda **kwargs: ZOO['FCSpatial'](in_channels=C, **kwargs),
    'FCChannel': lambda **kwargs: FCChannel(C, **kwargs),
    'FCSpatialChannel': lambda **kwargs: ZOO['FCSpatialChannel'](in_channels=C, **kwargs),
    'NonLocal': lambda **kwargs: NonLocal(C, **kwargs),
}
NORM_TYPES = 'BN, BN1d, BN2d, BN3d, SyncBN, GN, LN, IN, IN1d, IN2d, IN3d'
ONE_VALUE_PER_CHANNEL = ('{name} in training mode received one image with a 1×1 map: its '
                         'BatchNorm layers need more than one value per channel; train with '
                         'batches of 2 or more images or larger inputs (eval mode takes any)')


def exactly(message: str) -> str:
    """A ``pytest.raises`` pattern that matches ``message`` and nothing more."""
    return f'^{re.escape(message)}$'


# ---- constructor arguments ----------------------------------------------------------------

@pytest.mark.parametrize('in_channels', [0, -8, 3.5, '64', None, True])
@pytest.mark.parametrize('name', ZOO)
def test_in_channels_that_are_not_a_positive_int_are_refused_as_rga_does(name, in_channels):
    with pytest.raises(ConfigError, match=exactly(
            f'{name} in_channels must be a positive int (the channels of the attended '
            f'feature map), got {in_channels!r}')):
        ZOO[name](in_channels=in_channels)


@pytest.mark.parametrize('reduction', [0, -2, 3.5, '4', True])
@pytest.mark.parametrize('name, argument', [
    *[(name, 'reduction') for name in WITH_A_REDUCTION_OF_ITS_CHANNELS],
    ('FCSpatial', 'hidden_reduction'), ('FCSpatialChannel', 'hidden_reduction')])
def test_a_reduction_that_is_not_a_positive_int_names_the_module_and_argument(name, argument,
                                                                              reduction):
    with pytest.raises(ConfigError, match=exactly(
            f'{name} {argument} must be a positive int (a reduction ratio, 1 for none), got '
            f'{reduction!r}')):
        ZOO[name](in_channels=C, **{argument: reduction})


@pytest.mark.parametrize('reduction', [0, 2.0, None])
def test_an_rga_reduction_that_is_not_a_positive_int_names_rga(reduction):
    with pytest.raises(ConfigError, match=exactly(
            f'RGA reduction must be a positive int (a reduction ratio, 1 for none), got '
            f'{reduction!r}')):
        RGA(C, 8, reduction=reduction)


@pytest.mark.parametrize('name', WITH_A_REDUCTION_OF_ITS_CHANNELS)
def test_a_reduction_above_the_channel_count_names_the_module_and_the_fix(name):
    with pytest.raises(ConfigError, match=exactly(
            f'{name} reduction=64 does not fit its 32 channels (in_channels): set reduction to '
            f'at most 32 or build {name} for at least 64 channels')):
        ZOO[name](in_channels=C, reduction=64)
    assert ZOO[name](in_channels=C, reduction=32)(torch.randn(2, C, 6, 4)).shape == (2, C, 6, 4)


@pytest.mark.parametrize('name', ['FCSpatial', 'FCSpatialChannel'])
def test_a_hidden_reduction_above_the_position_count_names_the_module_and_its_map(name):
    module = FCSpatial if name == 'FCSpatial' else FCSpatialChannel
    with pytest.raises(ConfigError, match=exactly(
            f'{name} hidden_reduction=100 does not fit its 49 positions (spatial_size 7×7): '
            f'set hidden_reduction to at most 49 or build {name} for at least 100 positions')):
        module(C, (7, 7), hidden_reduction=100)
    assert module(C, (7, 7), hidden_reduction=49).eval()(torch.randn(1, C, 7, 7)).shape == (
        1, C, 7, 7)


def test_an_rga_reduction_above_the_node_count_names_spatial_size():
    """A 2×2 map has 4 spatial nodes; s1 = 8 would embed their relations into 0 channels."""
    with pytest.raises(ConfigError, match=exactly(
            'RGA reduction=8 does not fit its 4 nodes (the h·w positions of spatial_size in '
            'its spatial gate, its in_channels in the channel gate): set reduction to at most '
            '4 or build RGA for at least 8 nodes')):
        RGA(C, (2, 2))
    assert RGA(C, (2, 2), reduction=4).eval()(torch.randn(1, C, 2, 2)).shape == (1, C, 2, 2)


def test_an_rga_reduction_above_the_node_features_names_in_channels():
    with pytest.raises(ConfigError, match=exactly(
            'RGA reduction=16 does not fit its 8 node features (its in_channels in the spatial '
            'gate, the h·w positions of spatial_size in the channel gate): set reduction to at '
            'most 8 or build RGA for at least 16 node features')):
        RGA(8, (8, 8), reduction=16)


@pytest.mark.parametrize('name', ['CBAMSpatial', 'CBAM'])
@pytest.mark.parametrize('kernel_size', ['7', 7.0, None, 0, -3, True, (7, 7)])
def test_a_kernel_size_that_is_not_a_positive_int_is_refused(name, kernel_size):
    with pytest.raises(ConfigError, match=exactly(
            f'{name} kernel_size must be a positive int (the side of its square convolution, '
            f'odd), got {kernel_size!r}')):
        ZOO[name](in_channels=C, kernel_size=kernel_size)


@pytest.mark.parametrize('name', ['CBAMSpatial', 'CBAM'])
@pytest.mark.parametrize('kernel_size, neighbours', [(2, '1 or 3'), (6, '5 or 7')])
def test_an_even_kernel_size_is_refused_naming_the_odd_ones_beside_it(name, kernel_size,
                                                                     neighbours):
    """Padded by kernel_size // 2, an even kernel would give a gate one row and column
    larger than the map it scales."""
    with pytest.raises(ConfigError, match=exactly(
            f'{name} needs an odd kernel_size to keep the map size (its conv pads '
            f'kernel_size // 2 on each side), got {kernel_size}; use {neighbours}')):
        ZOO[name](in_channels=C, kernel_size=kernel_size)
    assert ZOO[name](in_channels=C, kernel_size=1)(torch.randn(2, C, 3, 5)).shape == (2, C, 3, 5)


@pytest.mark.parametrize('switch', ['use_scale', 'sub_sample'])
@pytest.mark.parametrize('value', ['False', 0, None])
def test_non_local_switches_must_be_bools(switch, value):
    """The string 'False' would count as true."""
    with pytest.raises(ConfigError, match=exactly(
            f'NonLocal {switch} must be True or False, got {value!r}')):
        NonLocal(C, **{switch: value})


@pytest.mark.parametrize('name, setting', [
    (name, 'spatial_norm_cfg' if name == 'CBAM' else 'norm_cfg') for name in WITH_A_NORM_CFG])
@pytest.mark.parametrize('norm_type, hint', [
    ('BNN', "; did you mean 'BN'?"), ('bn', "; did you mean 'BN'?"),
    ('SyncBn', "; did you mean 'SyncBN'?"), ('Foo', ''), (None, '')])
def test_a_norm_type_no_registry_knows_names_the_module_setting_and_closest_type(
        name, setting, norm_type, hint):
    """mmcv's own KeyError named the type as None and the setting not at all."""
    with pytest.raises(ConfigError, match=exactly(
            f'{name} {setting} type {norm_type!r} is not a registered norm layer (those are '
            f'{NORM_TYPES}){hint}')):
        WITH_A_NORM_CFG[name](norm_cfg=dict(type=norm_type))


@pytest.mark.parametrize('name, setting', [
    (name, 'spatial_norm_cfg' if name == 'CBAM' else 'norm_cfg') for name in WITH_A_NORM_CFG])
def test_a_norm_cfg_without_a_type_or_not_a_dict_names_the_module_and_setting(name, setting):
    with pytest.raises(ConfigError, match=exactly(
            f"{name} {setting}={{'typ': 'BN'}} has no 'type' key; name the norm layer with "
            f"one, e.g. {setting}=dict(type='BN')")):
        WITH_A_NORM_CFG[name](norm_cfg=dict(typ='BN'))
    with pytest.raises(ConfigError, match=exactly(
            f"{name} {setting} must be a dict such as dict(type='BN') or None, got 'BN'")):
        WITH_A_NORM_CFG[name](norm_cfg='BN')


@pytest.mark.parametrize('name, setting, what', [
    ('CBAMSpatial', 'norm_cfg', 'spatial conv'), ('CBAM', 'spatial_norm_cfg', 'spatial conv'),
    ('FCSpatial', 'norm_cfg', 'embedding conv'), ('FCChannel', 'norm_cfg', 'embedding conv'),
    ('FCSpatialChannel', 'norm_cfg', 'embedding conv'), ('NonLocal', 'norm_cfg', 'W_z conv')])
@pytest.mark.parametrize('norm_cfg', [dict(type='LN'), dict(type='BN1d'), dict(type='BN3d'),
                                      dict(type='GN', num_groups=3)],
                         ids=['LN', 'BN1d', 'BN3d', 'GN3'])
def test_a_norm_that_cannot_normalise_the_modules_maps_is_refused_at_build(name, setting, what,
                                                                         norm_cfg):
    """A LayerNorm (over the last axis), a BatchNorm of another dimension or a GN whose
    groups do not divide the channels: refused in one sentence naming the module, the
    setting and the conv, where they failed at every forward in torch's words (RGA refuses
    them in its own sentence)."""
    with pytest.raises(ConfigError) as error:
        WITH_A_NORM_CFG[name](norm_cfg=norm_cfg)
    message = str(error.value)
    assert message.startswith(f'{name} {setting}={norm_cfg!r} cannot normalise the ')
    assert f'-channel output of its {what} (' in message
    assert re.search(r'\): use a norm of \(B, C, H, W\) maps, such as BN, SyncBN or GN with '
                     r'num_groups dividing \d+$', message)


@pytest.mark.parametrize('gate, method', [
    (lambda: SE(C), 'channel_attention'), (lambda: CBAMChannel(C), 'channel_attention'),
    (lambda: CBAMSpatial(C), 'spatial_attention'), (lambda: FCChannel(C), 'channel_attention'),
    (lambda: ZOO['FCSpatial'](in_channels=C), 'spatial_attention')],
    ids=['SE', 'CBAMChannel', 'CBAMSpatial', 'FCChannel', 'FCSpatial'])
def test_a_gate_called_alone_checks_its_input_as_the_module_does(gate, method):
    """The documented gate methods, which another module may call without ``forward``,
    gave a wrong channel count a gate of the wrong size or torch's index error."""
    module = gate()
    name = type(module).__name__
    with pytest.raises(ConfigError, match=exactly(
            f'{name} was built for {C} channels but the feature map has 5 (shape (2, 5, 6, 4)); '
            f'build it with in_channels=5')):
        getattr(module, method)(torch.randn(2, 5, 6, 4))
    with pytest.raises(ConfigError, match=f'^{name} expects a 4-D \\(B, C, H, W\\) feature map'):
        getattr(module, method)(torch.randn(C, 6, 4))
    assert getattr(module, method)(torch.randn(2, C, 6, 4)).shape[:2] in ((2, C), (2, 1))


@pytest.mark.parametrize('name', WITH_A_NORM_CFG)
def test_a_registered_norm_type_or_class_is_built(name):
    """GN with one group is a norm every one of these modules takes (RGA's 1-channel logits)."""
    for norm_cfg in (dict(type='GN', num_groups=1), dict(type=torch.nn.BatchNorm2d)):
        module = WITH_A_NORM_CFG[name](norm_cfg=norm_cfg)
        assert module(torch.randn(2, C, 6, 4)).shape == (2, C, 6, 4)


@pytest.mark.parametrize('argument, hint', [
    ('redution', "; did you mean 'reduction'?"), ('use_sclae', "; did you mean 'use_scale'?"),
    ('zero_init', "; did you mean 'zeros_init'?"), ('dropout', '')])
def test_a_non_local_argument_mmcv_does_not_take_is_refused_with_the_closest(argument, hint):
    """mmcv's NonLocal2d passes the keywords it does not know on to its init_weights, which
    refused them with a TypeError naming neither NonLocal nor the closest argument."""
    with pytest.raises(ConfigError, match=exactly(
            f'NonLocal takes no argument {argument!r} (it takes in_channels, reduction, mode, '
            f'use_scale, sub_sample, norm_cfg, conv_cfg, std, zeros_init){hint}')):
        NonLocal(C, **{argument: 8})


@pytest.mark.parametrize('arguments, message', [
    (dict(zeros_init='False'), "NonLocal zeros_init must be True or False, got 'False'"),
    (dict(std=-1), 'NonLocal std must be a number of 0 or more (the standard deviation of the '
                   'normal init of θ, φ and g), got -1'),
    (dict(std='0.1'), 'NonLocal std must be a number of 0 or more (the standard deviation of '
                      "the normal init of θ, φ and g), got '0.1'"),
    (dict(conv_cfg='Conv2d'), "NonLocal conv_cfg must be a dict with a 'type', such as "
                              "dict(type='Conv2d'), or None, got 'Conv2d'"),
    (dict(conv_cfg=dict(type='conv2d')), "NonLocal conv_cfg type 'conv2d' is not a registered "
                                         "layer; did you mean 'Conv2d'?"),
    (dict(conv_cfg=dict(type='Conv3d')), "NonLocal conv_cfg={'type': 'Conv3d'} builds a Conv3d, "
                                         'not a 2-D convolution of the (B, C, H, W) map; use '
                                         "dict(type='Conv2d')")])
def test_values_of_the_arguments_passed_to_mmcv_are_checked(arguments, message):
    """The string 'False' zero-initialised W_z as True would; mmcv asserted without a
    message, named an unregistered type as None, or built a Conv3d that failed at every
    forward; torch's init refused a negative std naming neither NonLocal nor std."""
    with pytest.raises(ConfigError, match=exactly(message)):
        NonLocal(C, **arguments)


def test_the_non_local_arguments_mmcv_passes_to_init_weights_are_used():
    """``std`` is the normal init of θ, φ, g and W_z's norm, ``zeros_init`` W_z's zero start
    (Wang et al. §4.1)."""
    module = NonLocal(C, std=0.0, zeros_init=False, conv_cfg=dict(type='Conv2d'))
    for conv in (module.g.conv, module.theta.conv, module.phi.conv):
        assert not conv.weight.any()
    assert not module.conv_out.norm.weight.any()
    assert NonLocal(C, std=1.0, zeros_init=False).conv_out.norm.weight.std() > 0.5


@pytest.mark.parametrize('mode, hint', [
    ('embeded_gaussian', "; did you mean 'embedded_gaussian'?"),
    ('dot-product', "; did you mean 'dot_product'?"), ('softmax', ''), (None, '')])
def test_an_unknown_non_local_mode_names_the_modes_and_the_closest(mode, hint):
    with pytest.raises(ConfigError, match=exactly(
            f"NonLocal mode must be one of ('embedded_gaussian', 'gaussian', 'dot_product', "
            f"'concatenation') (in any case), got {mode!r}{hint}")):
        NonLocal(C, mode=mode)


@pytest.mark.parametrize('mode', ['Embedded_Gaussian', 'GAUSSIAN', 'Dot_Product'])
def test_a_non_local_mode_is_read_in_any_case_as_rgas_is(mode):
    module = NonLocal(C, mode=mode)
    assert module.mode == mode.lower()
    assert module(torch.randn(2, C, 6, 4)).shape == (2, C, 6, 4)


@pytest.mark.parametrize('name', ZOO)
def test_any_integer_type_is_a_channel_count_stored_as_an_int(name):
    module = ZOO[name](in_channels=np.int64(C))
    assert type(module.in_channels) is int
    assert module(torch.randn(2, C, 6, 4)).shape == (2, C, 6, 4)


# ---- the module a composite's error names -------------------------------------------------

def test_fc_spatial_channel_names_itself_on_a_map_of_another_size():
    module = FCSpatialChannel(C, (6, 4))
    refusal = ('FCSpatialChannel was built for a 6×4 map but received 8×4: its fully connected '
               'layers read exactly 6×4 positions; build it with spatial_size=(8, 4)')
    with pytest.raises(ConfigError, match=exactly(refusal)):
        module(torch.randn(2, C, 8, 4))
    with pytest.raises(ConfigError, match=exactly(refusal)):
        module.spatial_gate.spatial_attention(torch.randn(2, C, 8, 4))


# ---- one value per channel for a BatchNorm in training ------------------------------------

WITH_BATCH_NORM = {
    'FCChannel': lambda: FCChannel(C),
    'FCSpatial': lambda: FCSpatial(C, 1, hidden_reduction=1),
    'FCSpatialChannel': lambda: FCSpatialChannel(C, 1, hidden_reduction=1),
    'NonLocal': lambda: NonLocal(C),
    'NonLocal gaussian': lambda: NonLocal(C, mode='gaussian'),
    'NonLocal dot_product': lambda: NonLocal(C, mode='dot_product'),
    'NonLocal concatenation': lambda: NonLocal(C, mode='concatenation'),
    'CBAMSpatial BN': lambda: CBAMSpatial(C, norm_cfg=dict(type='BN')),
    'CBAM BN': lambda: CBAM(C, spatial_norm_cfg=dict(type='BN')),
}


@pytest.mark.parametrize('case', WITH_BATCH_NORM)
def test_training_on_one_image_of_one_position_names_the_module_and_the_fix(case):
    module = WITH_BATCH_NORM[case]()
    with pytest.raises(ConfigError, match=exactly(
            ONE_VALUE_PER_CHANNEL.format(name=type(module).__name__))):
        module(torch.randn(1, C, 1, 1))
    assert module(torch.randn(2, C, 1, 1)).shape == (2, C, 1, 1)
    assert module.eval()(torch.randn(1, C, 1, 1)).shape == (1, C, 1, 1)


WITHOUT_BATCH_NORM = {
    'SE': lambda: SE(C),
    'CBAMChannel': lambda: CBAMChannel(C),
    'CBAM': lambda: CBAM(C),
    'NonLocal without BN': lambda: NonLocal(C, norm_cfg=None),
}


@pytest.mark.parametrize('case', WITHOUT_BATCH_NORM)
def test_a_module_without_batch_norm_trains_on_one_image_of_one_position(case):
    module = WITHOUT_BATCH_NORM[case]().train()
    assert module(torch.randn(1, C, 1, 1)).shape == (1, C, 1, 1)


def test_a_frozen_batch_norm_takes_one_image_of_one_position():
    """A BatchNorm kept in eval mode (frozen statistics) normalises one value per channel."""
    module = FCChannel(C).train()
    module.embedding.norm.eval()
    assert module(torch.randn(1, C, 1, 1)).shape == (1, C, 1, 1)


# ---- feature maps that are not floating-point tensors -------------------------------------

@pytest.mark.parametrize('x, kind', [([[0.0]], 'list'), (np.zeros((2, C, 6, 4)), 'numpy.ndarray'),
                                     (1.0, 'float')])
@pytest.mark.parametrize('name', [*ZOO, 'RGA'])
def test_a_feature_map_that_is_not_a_tensor_is_refused_in_one_sentence(name, x, kind):
    module = RGA(C, (6, 4)) if name == 'RGA' else ZOO[name](in_channels=C)
    with pytest.raises(ConfigError, match=exactly(
            f'{name} takes a torch.Tensor feature map, got a {kind}; pass torch.as_tensor(x, '
            f'dtype=torch.float32)')):
        module(x)


@pytest.mark.parametrize('dtype', [torch.int64, torch.uint8, torch.bool])
@pytest.mark.parametrize('name', [*ZOO, 'RGA'])
def test_a_feature_map_that_is_not_floating_point_is_refused_in_one_sentence(name, dtype):
    module = RGA(C, (6, 4)) if name == 'RGA' else ZOO[name](in_channels=C)
    with pytest.raises(ConfigError, match=exactly(
            f'{name} takes a floating-point feature map, got a {dtype} tensor; pass '
            f'x.float()')):
        module(torch.ones(2, C, 6, 4, dtype=dtype))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_any_floating_point_feature_map_passes_the_check(dtype):
    assert check_feature_map(torch.zeros(2, C, 6, 4, dtype=dtype), C, 'SE') is None


@pytest.mark.parametrize('name', [*ZOO, 'RGA'])
def test_a_backbones_tuple_of_maps_is_refused_with_the_way_to_attend_stages(name):
    module = RGA(C, (6, 4)) if name == 'RGA' else ZOO[name](in_channels=C)
    with pytest.raises(ConfigError, match=exactly(
            f"{name} attends one feature map, got a tuple of 2 tensors, as a backbone gives "
            f"its stages' outputs: wrap the backbone in rga_mm.StageAttentionBackbone to "
            f"attend the stages you choose (docs/attention_zoo.md), or pass one map of the "
            f"tuple")):
        module((torch.randn(2, C, 6, 4), torch.randn(2, C, 6, 4)))


@pytest.mark.parametrize('name', [*ZOO, 'RGA'])
def test_a_map_of_another_dtype_than_the_weights_is_refused_outside_autocast(name):
    """float32 weights and a half map (or the reverse) is a torch error deep in a conv;
    under autocast, which casts per operation, any floating map runs; so does a module cast
    to the map's dtype."""
    module = (RGA(C, (6, 4)) if name == 'RGA' else ZOO[name](in_channels=C)).eval()
    x = torch.randn(2, C, 6, 4)
    for weights, given in ((torch.float32, torch.bfloat16), (torch.bfloat16, torch.float32)):
        with pytest.raises(ConfigError, match=exactly(
                f'{name} has {weights} weights but the feature map is {given}: cast one to '
                f'the other (module.to({given}) or x.to({weights})), or run under '
                f'torch.autocast')):
            module.to(weights)(x.to(given))
    with torch.autocast('cpu', torch.bfloat16):
        assert torch.isfinite(module.float()(x.bfloat16())).all()
    assert module.to(torch.bfloat16)(x.bfloat16()).dtype == torch.bfloat16


# ---- the checks under a tracer and torch.compile ------------------------------------------

@pytest.mark.parametrize('name', ZOO)
def test_a_traced_eval_module_keeps_its_batch_free(name):
    """The type, dtype and BatchNorm checks read no size in eval mode: a graph traced on a
    batch of 2 attends a batch of 3 as the module does."""
    module = ZOO[name](in_channels=C).eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        traced = torch.jit.trace(module, torch.randn(2, C, 6, 4))
    x = torch.randn(3, C, 6, 4)
    torch.testing.assert_close(traced(x), module(x))


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('name', ZOO)
def test_the_checks_compile_into_one_graph(name, training):
    module = ZOO[name](in_channels=C).train(training)
    torch._dynamo.reset()
    compiled = torch.compile(module, backend='eager', fullgraph=True)
    assert compiled(torch.randn(2, C, 6, 4)).shape == (2, C, 6, 4)


@pytest.mark.parametrize('name, arguments', [
    *((name, {}) for name in ZOO), ('NonLocal', dict(mode='gaussian')),
    ('NonLocal', dict(mode='dot_product')), ('NonLocal', dict(mode='concatenation')),
    ('RGA', {})])
def test_a_channels_last_map_gives_a_channels_last_output_of_the_same_values(name, arguments):
    """As a convolution keeps its input's memory format (NonLocal's Gaussian mode made its
    output contiguous)."""
    torch.manual_seed(0)
    build = WITH_A_NORM_CFG['RGA'] if name == 'RGA' else ZOO[name]
    module = (build(**arguments) if name == 'RGA' else build(in_channels=C, **arguments)).eval()
    x = torch.randn(2, C, 6, 4)
    channels_last = module(x.contiguous(memory_format=torch.channels_last))
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last, module(x))
