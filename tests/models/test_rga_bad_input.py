"""Bad input raises one clear sentence, never a silent broadcast."""
import ast
import re

import numpy as np
import pytest
import torch

from rga_mm.errors import ConfigError
from rga_mm.models.attention import RGA, FCSpatial
from rga_mm.models.attention.rga import largest_weight_count
from rga_mm.models.necks import RGANeck


def test_wrong_channel_count():
    with pytest.raises(ValueError, match='built for 8 channels but the feature map has 4'):
        RGA(8, spatial_size=(4, 4), reduction=2)(torch.randn(2, 4, 4, 4))


@pytest.mark.parametrize('shape', [(8, 4, 4), (2, 8, 4, 4, 1), (8, 16)])
def test_non_4d_input(shape):
    with pytest.raises(ValueError, match=f'expects a 4-D .* got a {len(shape)}-D tensor'):
        RGA(8, spatial_size=(4, 4), reduction=2)(torch.randn(*shape))


def test_channel_reduction_larger_than_channels():
    with pytest.raises(ValueError, match=re.escape('RGA reduction=16 does not fit its 8 node '
                                                   'features')):
        RGA(8, spatial_size=(8, 8), reduction=16)


def test_reduction_larger_than_node_count():
    # 2×2 map: the spatial relation embedding would map 2N = 8 → N / 8 = 0 channels
    with pytest.raises(ValueError, match=re.escape('RGA reduction=8 does not fit its 4 nodes')):
        RGA(64, spatial_size=(2, 2))


def test_unknown_mode_and_path():
    with pytest.raises(ValueError, match="mode must be one of"):
        RGA(8, spatial_size=(4, 4), mode='SS')
    with pytest.raises(ValueError, match="relation_path must be one of"):
        RGA(8, spatial_size=(4, 4), reduction=2, relation_path='sparse')


@pytest.mark.parametrize('relation_path, hint', [
    ('desne', "; did you mean 'dense'?"), ('sparse', ''), (None, '')])
def test_an_unknown_relation_path_names_rga_the_paths_and_the_closest(relation_path, hint):
    with pytest.raises(ConfigError, match=re.escape(
            f"RGA relation_path must be one of ('dense', 'factorized') (in any case), got "
            f"{relation_path!r}{hint}") + '$'):
        RGA(64, 8, relation_path=relation_path)


@pytest.mark.parametrize('relation_path', ['DENSE', 'Factorized'])
def test_relation_path_is_read_in_any_case_as_mode_is(relation_path):
    rga = RGA(64, 8, relation_path=relation_path)
    assert {rga.spatial_gate.relation_path, rga.channel_gate.relation_path} == {
        relation_path.lower()}


def test_both_terms_ablated():
    with pytest.raises(ValueError, match='needs the relation term, the appearance term'):
        RGA(8, spatial_size=(4, 4), reduction=2, use_relation=False, use_appearance=False)


@pytest.mark.parametrize('module', [RGA, FCSpatial, RGANeck])
def test_one_int_is_a_square_map_size(module):
    square, pair = module(16, 4, reduction=2), module(16, (4, 4), reduction=2)
    assert ({name: value.shape for name, value in square.state_dict().items()}
            == {name: value.shape for name, value in pair.state_dict().items()})


@pytest.mark.parametrize('spatial_size', [0, (4, ), (4, 0), (4.0, 4), 'ab', None, True,
                                          (4, True)])
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


@pytest.mark.parametrize('gate_reduction', [0, -2, 2.0])
def test_a_gate_reduction_that_is_not_a_positive_int_is_one_clear_error(gate_reduction):
    """0 used to divide by zero and a negative s2 was hidden by W1's width of at least 1."""
    with pytest.raises(ConfigError, match=rf"^RGA gate_reduction must be a positive int \(s2, the "
                                          rf"reduction inside the gate's W1; 1 for none\), "
                                          rf"got {re.escape(repr(gate_reduction))}$"):
        RGA(64, 8, gate_reduction=gate_reduction)


@pytest.mark.parametrize('mode', [None, 1, ('S', 'C')])
def test_a_mode_that_is_not_a_str_is_one_clear_error(mode):
    with pytest.raises(ConfigError, match=rf"^RGA mode must be one of \('S', 'C', 'SC', 'CS', "
                                          rf"'S//C'\) \(in any case\), got "
                                          rf"{re.escape(repr(mode))}$"):
        RGA(64, 8, mode=mode)


@pytest.mark.parametrize('in_channels', [64.0, True, 0, -8, '64', None])
def test_in_channels_that_are_not_a_positive_int_are_one_clear_error(in_channels):
    with pytest.raises(ConfigError, match=rf'^RGA in_channels must be a positive int \(the '
                                          rf'channels of the attended feature map\), got '
                                          rf'{re.escape(repr(in_channels))}$'):
        RGA(in_channels, 8)


@pytest.mark.parametrize('spatial_size', [np.int64(4), (np.int64(4), np.int32(4)),
                                          torch.Size([4, 4])])
@pytest.mark.parametrize('module', [RGA, FCSpatial, RGANeck])
def test_any_integer_type_is_a_map_size_stored_as_ints(module, spatial_size):
    built = module(16, spatial_size, reduction=2)
    size = (built.rga if module is RGANeck else built).spatial_size
    assert size == (4, 4) and all(type(side) is int for side in size)


def test_any_integer_type_is_a_channel_count_stored_as_an_int():
    rga = RGA(np.int64(16), 4, reduction=2)
    assert type(rga.in_channels) is int
    assert rga(torch.randn(2, 16, 4, 4)).shape == (2, 16, 4, 4)


@pytest.mark.parametrize('variable_size', [True, False])
@pytest.mark.parametrize('shape', [(2, 64, 0, 4), (2, 64, 4, 0), (0, 64, 0, 0)])
def test_a_map_without_positions_is_one_clear_error(shape, variable_size):
    """Not a padding error from a convolution, nor (at a fixed size) a fix to build RGA
    for a map with no positions."""
    rga = RGA(64, 8, variable_size=variable_size)
    with pytest.raises(ConfigError, match=rf'^RGA received a {shape[2]}×{shape[3]} map: the '
                                          rf'input image is too small for the downsampling '
                                          rf'before RGA to leave at least 1×1 positions$'):
        rga(torch.randn(*shape))


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('mode', ['SC', 'S//C'])
@pytest.mark.parametrize(('variable_size', 'size'), [(False, (8, 8)), (True, (8, 8)),
                                                      (True, (12, 10)), (True, (3, 5))])
def test_an_empty_batch_gives_an_empty_output(training, mode, variable_size, size):
    """As a convolution does (detection pipelines feed batches of no boxes): (0, C, H, W)
    out, and in training a zero gradient for the input and every parameter."""
    rga = RGA(64, 8, mode=mode, variable_size=variable_size).train(training)
    x = torch.randn(0, 64, *size, requires_grad=True)
    out = rga(x)
    assert out.shape == (0, 64, *size) and out.dtype == x.dtype
    out.sum().backward()
    assert x.grad.shape == x.shape
    for name, param in rga.named_parameters():
        assert (param.grad is not None and not param.grad.any()) if training else (
            param.grad is None), name


@pytest.mark.parametrize('reduction', [2.0, '4', True])
def test_a_reduction_that_is_not_an_int_is_one_clear_error(reduction):
    with pytest.raises(ConfigError, match=re.escape(
            f'RGA reduction must be a positive int (a reduction ratio, 1 for none), got '
            f'{reduction!r}')):
        RGA(64, 8, reduction=reduction)


@pytest.mark.parametrize('switch', ['use_relation', 'use_appearance'])
@pytest.mark.parametrize('value', ['False', 0, None])
def test_the_ablation_switches_must_be_bools(switch, value):
    """'False' would build the branch it means to leave out; 0 and None would drop it
    without saying so."""
    with pytest.raises(ConfigError, match=re.escape(
            f'RGA {switch} must be True or False, got {value!r}')):
        RGA(64, 8, **{switch: value})
    rga = RGA(64, 8, **{switch: np.bool_(False)})
    assert not hasattr(rga.spatial_gate, 'theta' if switch == 'use_relation'
                       else 'appearance_embed')


@pytest.mark.parametrize('norm_cfg, width, reason', [
    (dict(type='GN', num_groups=32), 8, 'num_channels (8) must be divisible by num_groups (32)'),
    (dict(type='GN', num_groups=2), 1, 'num_channels (1) must be divisible by num_groups (2)'),
    (dict(type='GN'), 8, 'mmcv refused the config'),
    (dict(type='LN'), 8, 'LayerNorm is neither a BatchNorm nor a GroupNorm'),
    (dict(type='IN'), 8, 'InstanceNorm2d is neither a BatchNorm nor a GroupNorm'),
    (dict(type='BN1d'), 8, 'BatchNorm1d: expected 2D or 3D input (got 4D input)'),
    (dict(type='BN3d'), 8, 'BatchNorm3d: expected 5D input (got 4D input)')])
def test_a_norm_that_cannot_normalise_a_gate_layer_names_rga_and_the_fix(norm_cfg, width,
                                                                       reason):
    """RGA(64, 8, reduction=8): θ, φ, ψ have 8 channels, the gate logits 1."""
    with pytest.raises(ConfigError, match=re.escape(
            f'RGA norm_cfg={norm_cfg!r} cannot normalise the {width}-channel output of one of '
            f'its 1×1 convs ({reason}): RGA normalises every 1×1 conv, down to the 1-channel '
            f'gate logits, so use BN or SyncBN, or GN with num_groups=1')):
        RGA(64, 8, norm_cfg=norm_cfg)
    rga = RGA(64, 8, norm_cfg=dict(type='GN', num_groups=1))
    assert rga(torch.randn(2, 64, 8, 8)).shape == (2, 64, 8, 8)


def test_variable_size_must_be_a_bool():
    """The string 'false' would otherwise count as true."""
    with pytest.raises(ConfigError, match=r"^RGA variable_size must be True or False, got "
                                          r"'false'$"):
        RGA(64, 8, variable_size='false')
    assert RGA(64, 8, variable_size=np.bool_(True)).variable_size is True


@pytest.mark.parametrize('mode, missing, branch, modes', [
    ('C', 'spatial_attention', 'spatial', "('S', 'SC', 'CS', 'S//C') to compute a_s"),
    ('S', 'channel_attention', 'channel', "('C', 'SC', 'CS', 'S//C') to compute a_c")])
def test_a_single_branch_rga_names_the_gate_it_lacks(mode, missing, branch, modes):
    with pytest.raises(ConfigError, match=re.escape(
            f"RGA mode '{mode}' has no {branch} gate; build it with one of the modes {modes}")):
        getattr(RGA(64, 4, mode=mode), missing)(torch.randn(2, 64, 4, 4))


@pytest.mark.parametrize('mode', ['S', 'SC', 'S//C'])
def test_training_on_one_image_of_one_position_names_the_batch_norm_and_the_fix(mode):
    """Spatial nodes of one 1×1 image leave torch's BatchNorm one value per channel, which
    it refuses in training; the channel branch (nodes = channels) has enough."""
    rga = RGA(64, 1, reduction=1, mode=mode)
    with pytest.raises(ConfigError, match=r'^RGA in training mode received one image with a '
                                          r'1×1 map: .* batches of 2 or more images'):
        rga(torch.randn(1, 64, 1, 1))
    assert rga(torch.randn(2, 64, 1, 1)).shape == (2, 64, 1, 1)
    assert rga.eval()(torch.randn(1, 64, 1, 1)).shape == (1, 64, 1, 1)
    assert RGA(64, 1, reduction=1, mode='C')(torch.randn(1, 64, 1, 1)).shape == (1, 64, 1, 1)


@pytest.mark.parametrize('mode', ['C', 'SC', 'S//C'])
def test_training_on_one_image_of_one_channel_names_the_batch_norm_and_the_fix(mode):
    """The channel gate's nodes are the channels: one channel of one image leaves its
    BatchNorm layers one value per channel, which torch refuses in training."""
    rga = RGA(1, (2, 2), reduction=1, mode=mode)
    with pytest.raises(ConfigError, match=r'^RGA in training mode received one image of its '
                                          r'one channel: .* batches of 2 or more images'):
        rga(torch.randn(1, 1, 2, 2))
    assert rga(torch.randn(2, 1, 2, 2)).shape == (2, 1, 2, 2)
    assert rga.eval()(torch.randn(1, 1, 2, 2)).shape == (1, 1, 2, 2)


GROUP_NORM = dict(type='GN', num_groups=1)


@pytest.mark.parametrize('kwargs, what, branch, nodes, other', [
    (dict(in_channels=64, spatial_size=1), 'a 1×1 map', 'spatial', 'positions', 'C'),
    (dict(in_channels=1, spatial_size=(2, 2), mode='C'), 'a map of one channel', 'channel',
     'channels', 'S')])
def test_a_group_norm_gate_of_one_node_is_refused_as_a_constant_gate(kwargs, what, branch,
                                                                      nodes, other):
    """GroupNorm normalises a gate's 1-channel logits over its nodes: with one node the
    logit is always 0 (for two images torch computes it, for one it refuses), so the gate
    is refused where it is built for one node, and at a 1×1 map where it takes any size."""
    refusal = re.escape(
        f'RGA with GroupNorm cannot attend {what}: GroupNorm normalises the {branch} gate\'s '
        f'1-channel logits over its nodes, the {nodes}, so with one node the logit is always '
        f'0 and the attention a constant 0.5 (torch refuses a single image outright); use BN '
        f"or SyncBN in norm_cfg, or mode='{other}' to leave the {branch} gate out")
    with pytest.raises(ConfigError, match=refusal):
        RGA(**kwargs, reduction=1, norm_cfg=GROUP_NORM)
    height, width = RGA(**kwargs, reduction=1).spatial_size  # with BN: any batch in eval
    x = torch.randn(1, kwargs['in_channels'], height, width)
    assert RGA(**kwargs, reduction=1).eval()(x).shape == x.shape
    if branch == 'spatial':
        rga = RGA(64, 4, variable_size=True, norm_cfg=GROUP_NORM).eval()
        for batch in (1, 2):
            with pytest.raises(ConfigError, match=refusal):
                rga(torch.randn(batch, 64, 1, 1))
        assert rga(torch.randn(1, 64, 3, 3)).shape == (1, 64, 3, 3)


@pytest.mark.parametrize('module, kwargs, size, rebuild', [
    (RGA, {}, (3, 3), 'spatial_size=(3, 3) or set variable_size=True'),
    (RGA, {}, (2, 2), 'spatial_size=(2, 2) and reduction <= 4 or set variable_size=True'),
    (FCSpatial, dict(hidden_reduction=8), (2, 2),
     'spatial_size=(2, 2) and hidden_reduction <= 4')])
def test_the_rebuild_a_size_mismatch_suggests_builds_and_fits(module, kwargs, size, rebuild):
    """The settings the sentence names build a module that takes the received map: below
    the reduction ratio's node count, the ratio is named too."""
    with pytest.raises(ConfigError, match=re.escape(f'build it with {rebuild}')):
        module(64, 4, **kwargs).eval()(torch.randn(1, 64, *size))
    settings = {name: ast.literal_eval(value) for name, value
                in re.findall(r'(\w+)(?:=| <= )(\(\d+, \d+\)|\d+)', rebuild)}
    rebuilt = module(64, **{**kwargs, **settings}).eval()
    assert rebuilt(torch.randn(1, 64, *size)).shape == (1, 64, *size)


@pytest.mark.parametrize('in_channels, spatial_size, mode, reduction', [
    (256, (64, 32), 'SC', 8), (2048, (16, 8), 'S', 8), (64, (9, 7), 'C', 2),
    (32, (4, 4), 'S//C', 4)])
def test_the_weight_count_is_that_of_the_gates_embeddings(in_channels, spatial_size, mode,
                                                          reduction):
    """What the size check counts: the weights of θ, φ, ψ and ϕ of each gate built."""
    module = RGA(in_channels, spatial_size, mode=mode, reduction=reduction)
    embeddings = sum(param.numel() for name, param in module.named_parameters()
                     if re.search(r'(theta|phi|appearance_embed|relation_embed)\.conv\.weight$',
                                  name))
    assert largest_weight_count(in_channels, spatial_size, mode, reduction) == embeddings


@pytest.mark.parametrize('in_channels, spatial_size, weights, gib', [
    (256, (256, 128), '0.67', '2.5'),  # a re-ID image size given for layer1's map
    (2048, (224, 224), '1.58', '5.9')])
def test_an_image_size_given_as_spatial_size_is_refused_before_allocating(
        in_channels, spatial_size, weights, gib):
    with pytest.raises(ConfigError) as error:
        RGA(in_channels, spatial_size)
    assert str(error.value) == (
        f"RGA(in_channels={in_channels}, spatial_size={spatial_size}, mode='SC', "
        f"reduction=8) would hold about {weights} G weights ({gib} GiB in float32): "
        f"spatial_size is the size of the feature map RGA receives, the input size divided "
        f"by the stride of the layers before it (the paper's re-ID model: (64, 32) after "
        f"layer1 of a 256×128 image), not the size of the image")


@pytest.mark.parametrize('saved, loaded, found, built', [
    (dict(in_channels=32, spatial_size=(8, 4)), dict(in_channels=32, spatial_size=(16, 8)),
     '32 channels and 32 positions', '32 channels and 16×8 = 128 positions'),
    (dict(in_channels=32, spatial_size=(8, 4)),
     dict(in_channels=32, spatial_size=(4, 4), variable_size=True),
     '32 channels and 32 positions', '32 channels and 4×4 = 16 positions'),
    (dict(in_channels=32, spatial_size=(8, 4)), dict(in_channels=64, spatial_size=(8, 4)),
     '32 channels and 32 positions', '64 channels and 8×4 = 32 positions'),
    # the channel gate alone tells both sizes: its nodes are channels, its features positions
    (dict(in_channels=32, spatial_size=(8, 4), mode='C'),
     dict(in_channels=16, spatial_size=(4, 4), mode='C'),
     '32 channels and 32 positions', '16 channels and 4×4 = 16 positions'),
    # without the relation term the spatial gate tells only the channels
    (dict(in_channels=32, spatial_size=(8, 4), mode='S', use_relation=False),
     dict(in_channels=64, spatial_size=(8, 4), mode='S', use_relation=False),
     '32 channels', '64 channels and 8×4 = 32 positions'),
])
def test_a_checkpoint_of_other_sizes_is_named_first_among_torchs_errors(saved, loaded, found,
                                                                        built):
    """torch lists each tensor's size mismatch; the first line says what the checkpoint's
    RGA was built for, and that variable_size cannot bridge other weights."""
    model = torch.nn.Sequential(torch.nn.Identity(), RGA(**loaded))
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict({f'1.{k}': v for k, v in RGA(**saved).state_dict().items()})
    first = str(error.value).splitlines()[1].strip()
    assert first == (
        f"the checkpoint's RGA 1 was built for {found}, this one for {built}: RGA's "
        f"weights fix its in_channels and the h·w of its spatial_size, so build it with the "
        f"checkpoint's (with variable_size=True it then attends maps of any size)")
    assert 'size mismatch for 1.' in str(error.value)  # torch's own list follows


def test_a_checkpoint_of_the_same_positions_loads_and_a_top_level_rga_is_named_plainly():
    saved = RGA(32, (8, 4), variable_size=True)
    loaded = RGA(32, (4, 8))
    with pytest.raises(RuntimeError, match=r"^Error\(s\) in loading state_dict for RGA:\n\t"
                                           r"the checkpoint's RGA was built for 64 channels"):
        loaded.load_state_dict(RGA(64, (8, 4)).state_dict())
    # same h·w: every tensor fits (the grid's shape is not saved)
    assert not loaded.load_state_dict(saved.state_dict()).missing_keys
    assert torch.equal(loaded.spatial_gate.theta.conv.weight,
                       saved.spatial_gate.theta.conv.weight)
