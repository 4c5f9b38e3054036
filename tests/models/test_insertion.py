"""RGA after named stages of an mm backbone, as an mmcv plugin, and as a plain module."""
import copy
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn

import rga_mm  # noqa: F401  (registers rga_mm's modules)
from rga_mm.errors import ConfigError
from rga_mm.models.attention import RGA
from rga_mm.registry import MODELS

RESNET18 = dict(type='mmpretrain.ResNet', depth=18, out_indices=(0, 1, 2, 3))
# a 64×64 input gives stage maps 16×16, 8×8, 4×4, 2×2
STAGE_RGA = dict(
    layer1=dict(type='RGA', in_channels=64, spatial_size=(16, 16), reduction=4),
    layer3=dict(type='RGA', in_channels=256, spatial_size=(4, 4), reduction=4,
                mode='S'))


def test_stage_attention_follows_the_named_stages():
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=STAGE_RGA)).eval()
    plain = MODELS.build(RESNET18)
    plain.eval()  # mmpretrain's ResNet.train() returns None
    plain.load_state_dict(model.backbone.state_dict())
    image = torch.randn(2, 3, 64, 64)

    x = plain.maxpool(plain.relu(plain.norm1(plain.conv1(image))))
    expected = []
    for name in ('layer1', 'layer2', 'layer3', 'layer4'):
        x = getattr(plain, name)(x)
        if name in model.attentions:
            x = model.attentions[name](x)
        expected.append(x)
    outputs = model(image)
    assert len(outputs) == 4
    for out, ref in zip(outputs, expected):
        torch.testing.assert_close(out, ref)


def test_backbone_parameter_names_are_untouched():
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=STAGE_RGA))
    plain = MODELS.build(RESNET18)
    assert list(model.backbone.state_dict()) == list(plain.state_dict())
    assert {n.split('.')[1] for n, _ in model.named_parameters()
            if n.startswith('attentions.')} == {'layer1', 'layer3'}


RESNET18_TOP_LEVEL = "['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']"


def test_an_unknown_stage_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                          attentions=dict(layer9=STAGE_RGA['layer1'])))
    assert str(error.value) == (f"StageAttentionBackbone: ResNet has no stage named 'layer9'; "
                                f"its top-level submodules are {RESNET18_TOP_LEVEL}")
    with pytest.raises(ConfigError, match=r"^StageAttentionBackbone: ResNet has no stages "
                                          r"named 'layer8', 'layer9'; "):
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                          attentions=dict(layer9=STAGE_RGA['layer1'],
                                          layer8=STAGE_RGA['layer1'])))


def test_an_empty_stage_name_is_a_config_error():
    """'' is the backbone itself among its named modules, not a stage."""
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                          attentions={'': STAGE_RGA['layer1']}))
    assert str(error.value) == (
        f"StageAttentionBackbone attentions key '' names the whole ResNet, not a stage: use a "
        f"dotted submodule path, e.g. one of its top-level submodules {RESNET18_TOP_LEVEL}")


@pytest.mark.parametrize('attentions, start', [
    ([dict(type='SE', in_channels=64)], 'StageAttentionBackbone attentions must map stage '
                                        'names to attention configs, e.g. '),
    ('layer1', "StageAttentionBackbone attentions must map stage names to attention configs"),
    (dict(layer1='SE'), "StageAttentionBackbone attentions['layer1'] = 'SE': each entry maps "
                        "a stage name (a str) to an attention config"),
    ({1: dict(type='SE', in_channels=64)}, 'StageAttentionBackbone attentions[1] = ')])
def test_attentions_that_are_not_a_map_of_stage_configs_are_refused(attentions, start):
    """A list of configs or a bare type name would fail deep in mmengine (an unhashable
    dict, 'cfg should be a dict')."""
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                          attentions=attentions))
    assert str(error.value).startswith(start)
    assert "e.g. attentions=dict(layer1=dict(type='rga_mm.SE', in_channels=256))" in str(
        error.value)


def test_an_attention_refusing_its_config_at_build_time_names_the_stage():
    """RGA's refusal (a reduction of 8 for a 2×2 map's 4 positions) gets the prefix of the
    forward-time errors."""
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18, attentions={
            'layer4': dict(type='rga_mm.RGA', in_channels=512, spatial_size=2)}))
    refusal = error.value.__cause__
    assert isinstance(refusal, ValueError)
    assert 'RGA reduction=8 does not fit its 4 nodes' in str(refusal)
    assert str(error.value) == (
        f"StageAttentionBackbone stage 'layer4' (attentions['layer4']): {refusal}")


@pytest.mark.parametrize('attention, message', [
    (dict(type='rga_mm.RGAA', in_channels=512, spatial_size=2),
     "type='rga_mm.RGAA' is not in the rga_mm::model registry; did you mean 'rga_mm.RGA'?"),
    (dict(type='rga_mm.Nothing', in_channels=512),
     "type='rga_mm.Nothing' is not in the rga_mm::model registry: check the spelling in the "
     "config, or that its custom_imports import the module that registers it"),
    (dict(type='rga_mm.RGA', in_channel=512, spatial_size=2),
     "RGA.__init__() got an unexpected keyword argument 'in_channel'; did you mean "
     "'in_channels'?"),
    (dict(type='rga_mm.RGA', in_channels=512, spatial_sise=2),
     "RGA.__init__() got an unexpected keyword argument 'spatial_sise'; did you mean "
     "'spatial_size'?"),
    (dict(type='rga_mm.RGA', in_channels=512, spatial_size=2, s1=4),  # the paper's symbol
     "RGA.__init__() got an unexpected keyword argument 's1'; RGA calls s1 'reduction'"),
])
def test_an_unknown_attention_type_or_argument_names_the_stage(attention, message):
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                          attentions={'layer4': attention}))
    assert str(error.value).startswith(
        f"StageAttentionBackbone stage 'layer4' (attentions['layer4']): {message}")


@pytest.mark.parametrize('arguments, message', [
    (dict(backbone=RESNET18, attention=dict(layer4=dict(type='rga_mm.SE', in_channels=512))),
     "StageAttentionBackbone needs attentions=dict(...), not 'attention': "),
    (dict(backbon=RESNET18, attentions={}), "StageAttentionBackbone needs backbone=dict(...), "
                                            "not 'backbon': "),
    (dict(backbone=RESNET18), "StageAttentionBackbone needs attentions=dict(...): "),
])
def test_a_missing_or_misspelt_backbone_or_attentions_is_named(arguments, message):
    """Python's own error named the missing argument but not the key given for it."""
    with pytest.raises(ConfigError) as error:
        MODELS.build(dict(type='StageAttentionBackbone', **arguments))
    assert str(error.value).startswith(message)


def test_a_bare_rga_mm_type_in_another_scope_gets_the_scoped_name():
    """In an mmpretrain config (default scope mmpretrain) ``type='RGA'`` is looked up in
    mmpretrain's registry, which does not have it."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'), \
            pytest.raises(ConfigError) as error:
        MMPRETRAIN_MODELS.build(dict(
            type='rga_mm.StageAttentionBackbone', backbone=RESNET18,
            attentions={'layer4': dict(type='RGA', in_channels=512, spatial_size=2,
                                       reduction=4)}))
    assert str(error.value) == (
        "StageAttentionBackbone stage 'layer4' (attentions['layer4']): type='RGA' is not in "
        "the mmpretrain::model registry; it is rga_mm's: write type='rga_mm.RGA' in a config "
        "whose default_scope is another package's")


def test_init_weights_applies_an_attentions_own_init_cfg(tmp_path):
    """A ``Pretrained`` init_cfg on one attention loads its weights when the wrapper's
    ``init_weights`` runs (the Runner calls it), as it does for the attention alone."""
    trained = RGA(64, (16, 16), reduction=4)
    for param in trained.parameters():
        torch.nn.init.normal_(param)
    torch.save(trained.state_dict(), tmp_path / 'rga_layer1.pth')
    attention = dict(STAGE_RGA['layer1'],
                     init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'rga_layer1.pth')))
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=dict(layer1=attention)))
    model.init_weights()
    loaded = model.attentions['layer1'].state_dict()
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0, msg=name)


class StageNamesThatMeet(torch.nn.Module):
    """A backbone with submodules ``stages.0`` and ``stages_0``."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1))
        self.stages_0 = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        return self.stages_0(self.stages(x))


def test_stage_names_that_meet_as_module_names_are_refused():
    MODELS.register_module(module=StageNamesThatMeet, force=True)
    se = dict(type='SE', in_channels=8, reduction=2)
    with pytest.raises(ConfigError, match=r"stage names \['stages.0', 'stages_0'\] give the "
                                          r"same attention module name"):
        MODELS.build(dict(type='StageAttentionBackbone', backbone=dict(
            type='StageNamesThatMeet'), attentions={'stages.0': se, 'stages_0': se}))


# stages of a Swin return (tokens, hw_shape) tuples; a tiny one builds in a blink
TINY_SWIN = dict(type='mmpretrain.SwinTransformer', img_size=32, window_size=2,
                 arch=dict(embed_dims=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]))


def test_a_stage_that_returns_a_tuple_is_a_config_error_naming_it():
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=TINY_SWIN, attentions={
        'stages.0': dict(type='rga_mm.SE', in_channels=8, reduction=2)}))
    with pytest.raises(ConfigError, match=r"StageAttentionBackbone stage 'stages.0' of "
                                          r"SwinTransformer returns a tuple, not a \(B, C, H, W\) "
                                          r"tensor: move attentions\['stages.0'\]"):
        model(torch.randn(1, 3, 32, 32))


def test_a_stage_that_returns_tokens_is_a_config_error_with_their_shape():
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=TINY_SWIN, attentions={
        'stages.0.blocks.0': dict(type='rga_mm.SE', in_channels=8, reduction=2)}))
    with pytest.raises(ConfigError, match=r"stage 'stages.0.blocks.0' of SwinTransformer "
                                          r"returns a 3-D tensor of shape \(1, 64, 8\)"):
        model(torch.randn(1, 3, 32, 32))


def test_an_attention_error_names_the_stage_and_its_config_key():
    attentions = dict(STAGE_RGA, layer2=dict(type='RGA', in_channels=64, spatial_size=(8, 8),
                                             reduction=4))
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=attentions))
    with pytest.raises(ConfigError, match=r"^StageAttentionBackbone stage 'layer2' "
                                          r"\(attentions\['layer2'\]\): RGA was built for 64 "
                                          r"channels but the feature map has 128"):
        model(torch.randn(1, 3, 64, 64))


class Failing(torch.nn.Module):
    """An attention that fails with an error that is not about its settings."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()

    def forward(self, x):
        raise RuntimeError('out of memory')


def test_other_attention_errors_pass_through_unchanged():
    MODELS.register_module(module=Failing, force=True)
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=dict(layer1=dict(type='Failing', in_channels=64))))
    with pytest.raises(RuntimeError, match='^out of memory$'):
        model(torch.randn(1, 3, 64, 64))


def test_as_an_mmcv_plugin_of_mmseg_resnet():
    """mmcv's build_plugin_layer passes in_channels; one entry per stage with its size."""
    backbone = MODELS.build(dict(
        type='mmseg.ResNetV1c', depth=50, out_indices=(3, ),
        plugins=[dict(cfg=dict(type='rga_mm.RGA', spatial_size=(4, 4), variable_size=True),
                      stages=(False, False, False, True), position='after_conv3')]))
    rga_layers = [m for m in backbone.modules() if isinstance(m, RGA)]
    assert len(rga_layers) == 3  # one per bottleneck of the last stage
    assert all(m.in_channels == 2048 for m in rga_layers)
    out = backbone(torch.randn(2, 3, 128, 128))[0]
    assert out.shape == (2, 2048, 4, 4)


@pytest.mark.parametrize('norm_eval, norm_cfg, warns', [
    (True, dict(type='BN'), True),
    (False, dict(type='BN'), False),
    (True, dict(type='GN', num_groups=1), False)])
def test_an_rga_plugin_frozen_by_norm_eval_is_warned_about(norm_eval, norm_cfg, warns):
    """``norm_eval=True`` (mmdet's ResNet default) sets every BatchNorm of the backbone to
    eval mode on ``train()``, the plugins' too: RGA's gates would then train on untrained
    statistics. GroupNorm is not touched by it."""
    backbone = MODELS.build(dict(
        type='mmseg.ResNetV1c', depth=50, out_indices=(3, ), norm_eval=norm_eval,
        plugins=[dict(cfg=dict(type='rga_mm.RGA', spatial_size=(2, 2), reduction=2,
                               norm_cfg=norm_cfg),
                      stages=(False, False, False, True), position='after_conv3')]))
    backbone.train()
    rga_layers = [m for m in backbone.modules() if isinstance(m, RGA)]
    frozen = [m for m in rga_layers[0].modules()
              if isinstance(m, torch.nn.BatchNorm2d) and not m.training]
    assert len(frozen) == (12 if warns else 0)  # θ, φ, ψ, ϕ and W1, W2 of both gates
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        backbone(torch.randn(2, 3, 64, 64))
        backbone(torch.randn(2, 3, 64, 64))
    messages = [str(w.message) for w in caught if 'norm_eval' in str(w.message)]
    if warns:  # once per module, at its first training forward
        assert messages == [
            'RGA(in_channels=2048, spatial_size=(2, 2)) trains with 12 of its BatchNorms in '
            'eval mode at statistics they never learned (a backbone built with '
            "norm_eval=True sets every BatchNorm below it to eval mode, RGA's included), so "
            'its gates stay near 0.5 and barely learn: build the backbone with '
            "norm_eval=False, or RGA with norm_cfg=dict(type='GN', num_groups=1), which "
            'norm_eval leaves alone'] * len(rga_layers)
    else:
        assert messages == []


def test_as_a_plain_module():
    module = RGA(32, spatial_size=(8, 4))  # the paper's re-ID module: RGA-SC, s1 = s2 = 8
    assert module.mode == 'SC'
    assert module.spatial_gate.relation_path == 'factorized'
    assert module.spatial_gate.theta.conv.out_channels == 32 // 8
    assert module.spatial_gate.relation_embed.conv.out_channels == 32 // 8
    x = torch.randn(2, 32, 8, 4)
    out = module(x)
    # every output position is the input scaled by a gate in (0, 1) with the input's sign
    assert out.shape == x.shape
    assert ((out * x) >= 0).all() and (out.abs() <= x.abs()).all()


class _BrokenAttention(torch.nn.Module):
    """An attention whose constructor has a bug that raises a TypeError."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        len(in_channels)  # TypeError: object of type 'int' has no len()


def test_a_bug_inside_an_attention_keeps_its_traceback():
    """Only an argument the attention does not take is the user's to fix."""
    MODELS.register_module(module=_BrokenAttention, force=True)
    with pytest.raises(TypeError, match="object of type 'int' has no len"):
        MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18, attentions={
            'layer4': dict(type='_BrokenAttention', in_channels=512)}))


def test_a_stage_that_runs_twice_in_one_forward_is_refused_naming_it():
    """A BasicBlock calls its one ReLU twice: an attention there would attend both outputs."""
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions={'layer1.0.relu': dict(type='SE', in_channels=64)}))
    with pytest.raises(ConfigError, match=r"^StageAttentionBackbone stage 'layer1\.0\.relu' "
                                          r"of ResNet runs more than once in one forward .* "
                                          r"once per forward, e.g\. 'layer1\.0'$"):
        model(torch.randn(1, 3, 64, 64))


def test_a_stage_recomputed_by_activation_checkpointing_is_attended_once():
    """With ``with_cp`` a block's inner modules run again during backward, outside the
    forward: the gradients equal those of the same model without checkpointing."""
    attentions = {'layer1.0.conv2': dict(type='SE', in_channels=64)}
    image = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    gradients = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(dict(type='StageAttentionBackbone', attentions=attentions,
                                  backbone=dict(RESNET18, with_cp=with_cp))).double()
        sum(out.sum() for out in model(image.requires_grad_())).backward()
        gradients.append(image.grad)
        image = image.detach()
    torch.testing.assert_close(*gradients)


def test_a_data_parallel_replica_attends_with_its_own_attentions():
    """nn.DataParallel runs a shallow copy of the module per device, each in a thread of its
    own, with copies of the submodules; the stage hooks the copies share with the original
    must call the running copy's attentions and count its stage runs. Here the replica's
    attentions hold other weights, and it shares the backbone, as a replica on the
    original's device may."""
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=STAGE_RGA)).eval()
    replica = model._replicate_for_data_parallel()  # what torch.nn.parallel.replicate calls
    replica.attentions = copy.deepcopy(model.attentions)
    with torch.no_grad():
        for parameter in replica.attentions.parameters():
            parameter.add_(0.5)
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), ThreadPoolExecutor(1) as thread:
        outputs = thread.submit(replica, image).result()
        x = model.backbone.maxpool(model.backbone.relu(model.backbone.norm1(
            model.backbone.conv1(image))))
        for name, out in zip(('layer1', 'layer2', 'layer3', 'layer4'), outputs):
            x = getattr(model.backbone, name).forward(x)  # forward alone runs no hooks
            if name in replica.attentions:
                x = replica.attentions[name](x)
            torch.testing.assert_close(out, x)
        assert all(not torch.equal(a, b) for a, b in zip(model(image), outputs))


def test_threads_sharing_one_model_count_their_own_stage_runs():
    """A served model is called from several threads at once. Here two forwards meet inside
    layer1's attention, so each attends its later stages while the other's forward is open:
    each counts its own stage runs and gives the output of a forward alone."""
    model = MODELS.build(dict(type='StageAttentionBackbone', backbone=RESNET18,
                              attentions=STAGE_RGA)).eval()
    meeting = threading.Barrier(2, timeout=60)

    class Meeting(nn.Module):
        def forward(self, x):
            meeting.wait()
            return x

    model.attentions['layer1'] = Meeting()
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), ThreadPoolExecutor(2) as threads:
        calls = [threads.submit(model, image) for _ in range(2)]
        outputs = [call.result() for call in calls]
    model.attentions['layer1'] = nn.Identity()
    with torch.no_grad():
        alone = model(image)
    for output in outputs:
        for out, ref in zip(output, alone, strict=True):
            torch.testing.assert_close(out, ref)


def test_torch_compile_traces_the_wrapper_in_one_graph():
    """The stage hooks run inside the compiled graph: under torch.compile they take the
    wrapper's own attentions without the bookkeeping of eager forwards, which dynamo cannot
    trace (it would break the graph at every stage and leave the backbone uncompiled)."""
    model = MODELS.build(dict(
        type='StageAttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=18, num_stages=2, out_indices=(1, ),
                      strides=(1, 2), dilations=(1, 1)),
        attentions={'layer2': dict(type='RGA', in_channels=128, spatial_size=(4, 4),
                                   reduction=2)})).eval()
    image = torch.randn(2, 3, 32, 32)
    explained = torch._dynamo.explain(model)(image)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), (
        [reason.reason for reason in explained.break_reasons])
    compiled = torch.compile(model, backend='eager')
    torch.testing.assert_close(compiled(image), model(image))


def test_a_module_list_stage_is_refused_naming_an_entry():
    """ConvNeXt iterates its ``stages`` ModuleList: a hook on the list would never fire."""
    with pytest.raises(ConfigError, match=r"^StageAttentionBackbone stage 'stages' of ConvNeXt "
                                          r"is a ModuleList, .* would never run: attach it to "
                                          r"one of its entries, e\.g\. 'stages\.3'$"):
        MODELS.build(dict(type='StageAttentionBackbone',
                          backbone=dict(type='mmpretrain.ConvNeXt', arch='atto'),
                          attentions={'stages': dict(type='SE', in_channels=320)}))


def test_a_stage_its_parent_skips_is_refused_naming_it():
    """An EfficientNet block without a shortcut never calls its drop-path: an attention
    there would attend nothing, and learn nothing."""
    stage = 'layers.1.0.drop_path'
    model = MODELS.build(dict(type='StageAttentionBackbone',
                              backbone=dict(type='mmpretrain.EfficientNet', arch='b0'),
                              attentions={stage: dict(type='SE', in_channels=16)}))
    assert not model.backbone.layers[1][0].with_res_shortcut
    with pytest.raises(ConfigError, match=rf"^StageAttentionBackbone stage '{stage}' of "
                                          r"EfficientNet did not run in this forward"):
        model.eval()(torch.randn(1, 3, 32, 32))
