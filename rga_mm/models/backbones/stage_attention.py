"""Attention after named stages of any backbone: the one insertion mechanism of rga_mm.

The paper puts RGA after whole residual stages (re-ID: after ``layer1``..``layer4`` of
ResNet-50; CIFAR: after the first stage or dense block). mmcv's ``plugins`` only reach
positions *inside* a bottleneck, so this wrapper adds what no OpenMMLab component offers:
it builds any backbone from the registries and attaches an attention module to the output of
each named submodule with a forward hook. The backbone's parameters live under ``backbone.``
and the attentions under ``attentions.<stage name>``; a checkpoint of the plain model (a stock
classifier's ``backbone.conv1.weight``, a bare backbone's ``conv1.weight``) loads into the
wrapped backbone all the same, leaving only the attentions missing.

Example::

    backbone=dict(
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1)),
        attentions=dict(
            layer1=dict(type='rga_mm.RGA', in_channels=256, spatial_size=(64, 32)),
            layer4=dict(type='rga_mm.RGA', in_channels=2048, spatial_size=(16, 8))))
"""
import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any

import torch
from mmengine.model import BaseModule, ModuleDict
from torch import Tensor, nn

from rga_mm.checks import constructor_arguments
from rga_mm.errors import ConfigError, closest_choice_hint
from rga_mm.registry import MODELS
from rga_mm.unregistered_type import unregistered_type_message

# The StageAttentionBackbones whose eager forward runs in this thread, by their origin (a
# token shared by a module and the copies nn.DataParallel makes of it, each run in a thread
# of its own), each with the stage runs of that forward: the stage hooks, which such copies
# share with the original, find the copy that runs here and count the runs of this call, so
# threads that share one model (a server's workers, DataParallel's replicas) never see each
# other's counts.
_RUNNING: ContextVar[dict[object, tuple[nn.Module, Counter]]] = ContextVar(
    'running_stage_attention', default={})


def _describe(output: Any) -> str:
    """What a stage returned, for an error message: a tensor's shape, else its type."""
    if isinstance(output, Tensor):
        return f'a {output.dim()}-D tensor of shape {tuple(output.shape)}'
    return f'a {type(output).__name__}'


def _in_stage(stage: str, refusal: Exception | str) -> ConfigError:
    """An attention's refusal, prefixed with the stage and its ``attentions`` key."""
    return ConfigError(f'StageAttentionBackbone stage {stage!r} (attentions[{stage!r}]): '
                       f'{refusal}')


def _key_message(error: KeyError) -> str:
    """A KeyError's message without the quotes ``str`` puts around it."""
    return str(error.args[0]) if error.args else str(error)


def _check_stage_output(output: Any, backbone: str, stage: str) -> None:
    """Refuse a stage output that is not a (B, C, H, W) tensor, naming the stage.

    Raises:
        ConfigError: ``output`` is not a 4-D tensor (a tuple from a Swin stage, a (B, L, C)
            token sequence).
    """
    if not isinstance(output, Tensor) or output.dim() != 4:
        raise ConfigError(
            f"StageAttentionBackbone stage {stage!r} of {backbone} returns "
            f"{_describe(output)}, not a (B, C, H, W) tensor: move attentions[{stage!r}] to a "
            f"submodule that returns a feature map")


def _count_stage_run(runs: Counter | None, backbone: str, stage: str) -> None:
    """Count a stage's run within one forward of the wrapper (``runs`` is None outside one,
    e.g. when activation checkpointing recomputes the stage during backward).

    Raises:
        ConfigError: the stage runs a second time in the same forward (a submodule its
            parent calls several times, such as a ResNet block's shared ``relu``), where
            its attention would attend every output; the message names the stage.
    """
    if runs is None:
        return
    runs[stage] += 1
    if runs[stage] > 1:
        parent = stage.rpartition('.')[0]
        instead = f', e.g. {parent!r}' if parent else ''
        raise ConfigError(
            f'StageAttentionBackbone stage {stage!r} of {backbone} runs more than once in one '
            f'forward (its parent calls it several times, as a block calls a shared ReLU), '
            f'so attentions[{stage!r}] would attend each of its outputs: attach the '
            f'attention to a submodule that runs once per forward{instead}')


def _traced() -> bool:
    """Whether the forward runs under torch.compile, torch.export (the ONNX exporter) or
    torch.jit.trace, whose graphs need not replay the run counts: the stages are counted
    in eager forwards only."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.onnx.is_in_onnx_export())


def _check_every_stage_ran(runs: Counter, stages: Sequence[str], backbone: str) -> None:
    """Raise a ConfigError naming the first of ``stages`` that did not run in a forward
    (``runs`` counts them): a module its parent skips (a drop-path that a block without a
    shortcut never calls), whose attention attends nothing and learns nothing."""
    idle = [stage for stage in stages if not runs[stage]]
    if idle:
        raise ConfigError(
            f'StageAttentionBackbone stage {idle[0]!r} of {backbone} did not run in this '
            f'forward (its parent skips it), so attentions[{idle[0]!r}] attended nothing: '
            f'attach the attention to a submodule that runs in every forward')


def _check_stages_are_called(backbone: nn.Module, names: Iterable[str]) -> None:
    """Raise a ConfigError naming a stage that is a ModuleList or ModuleDict: a container
    its parent iterates instead of calling, so an attention after it would never run."""
    modules = dict(backbone.named_modules())
    for name in names:
        container = modules[name]
        if isinstance(container, (nn.ModuleList, nn.ModuleDict)):
            entries = [f'{name}.{key}' for key, _ in container.named_children()]
            example = f', e.g. {entries[-1]!r}' if entries else ''
            raise ConfigError(
                f'StageAttentionBackbone stage {name!r} of {type(backbone).__name__} is a '
                f'{type(container).__name__}, which its parent iterates instead of calling, '
                f'so attentions[{name!r}] would never run: attach it to one of its '
                f'entries{example}')


def _attend_output(owner: nn.Module, origin: object, key: str, backbone: str, stage: str,
                   module: nn.Module, inputs: Any, output: Any) -> Tensor:
    """Forward hook: replace a stage's (B, C, H, W) output by its attended version, with
    ``attentions[key]`` of the StageAttentionBackbone of ``origin`` whose forward runs in
    this thread (a DataParallel replica, or ``owner`` itself), counted among the stage runs
    of that forward; else of ``owner``, uncounted (a traced forward, or the stage recomputed
    by activation checkpointing).

    Raises:
        ConfigError: the stage's output is not a (B, C, H, W) tensor, the stage runs twice
            in one forward, or the attention refuses its output (a wrong ``in_channels`` or
            map size); the message names the stage and the ``attentions`` key to fix.
    """
    wrapper, runs = (owner, None) if _traced() else _RUNNING.get().get(origin, (owner, None))
    _count_stage_run(runs, backbone, stage)
    _check_stage_output(output, backbone, stage)
    try:
        return wrapper.attentions[key](output)
    except ValueError as error:
        raise _in_stage(stage, error) from error


def _nest_backbone_keys(state_dict: MutableMapping[str, Any], prefix: str,
                        backbone_keys: Iterable[str]) -> None:
    """Rename a plain model's backbone keys ``<prefix>X`` to the wrapper's
    ``<prefix>backbone.X``, in place, for each key X of the wrapped backbone's state.

    A state dict already in the wrapper's layout (holding any ``<prefix>backbone.X``) is left
    untouched, so rga_mm's own checkpoints load exactly as saved.
    """
    backbone_keys = list(backbone_keys)
    if any(f'{prefix}backbone.{key}' in state_dict for key in backbone_keys):
        return
    for key in backbone_keys:
        if prefix + key in state_dict:
            state_dict[f'{prefix}backbone.{key}'] = state_dict.pop(prefix + key)


def _build_attention(cfg: dict, stage: str) -> nn.Module:
    """Build ``attentions[stage]``; a refusal of its settings is prefixed with the stage.

    Raises:
        ConfigError: the attention refuses its config (e.g. a ``reduction`` larger than its
            map's positions), its type is not registered (KeyError) or it takes no such
            argument (a TypeError about an argument; any other TypeError is a bug and keeps
            its traceback); the message names the stage and the ``attentions`` key.
    """
    try:
        return MODELS.build(cfg)
    except KeyError as error:
        raise _in_stage(stage, unregistered_type_message(error) or _key_message(error)) \
            from error
    except ValueError as error:
        raise _in_stage(stage, error) from error
    except TypeError as error:  # only an argument the attention does not take is the user's
        if 'argument' not in str(error):
            raise
        raise _in_stage(stage, f'{error}{_argument_hint(cfg, error)}') from error


def _argument_hint(cfg: Mapping, error: TypeError) -> str:
    """For a TypeError about an unexpected keyword argument of the attention ``cfg`` builds:
    the argument it names that way (its ``ARGUMENT_ALIASES``: RGA's ``s1`` is
    ``reduction``), else the argument it takes that is closest to the mistyped one, else
    ''."""
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    attention = cfg.get('type')
    if isinstance(attention, str):
        attention = MODELS.get(attention)
    if unexpected is None or not isinstance(attention, type):
        return ''
    alias = getattr(attention, 'ARGUMENT_ALIASES', {}).get(unexpected.group(1))
    if alias is not None:
        return f'; {attention.__name__} calls {unexpected.group(1)} {alias!r}'
    return closest_choice_hint(unexpected.group(1), constructor_arguments(attention))


def _check_attentions_mapping(attentions: object) -> None:
    """Raise a ConfigError unless ``attentions`` maps stage names (str) to attention configs
    (dicts), naming the first entry that does not."""
    example = ("e.g. attentions=dict(layer1=dict(type='rga_mm.SE', in_channels=256)) "
               "or {'stages.0': dict(...)}")
    if not isinstance(attentions, Mapping):
        raise ConfigError(f'StageAttentionBackbone attentions must map stage names to '
                          f'attention configs, {example}; got a {type(attentions).__name__}: '
                          f'{attentions!r}')
    for stage, cfg in attentions.items():
        if not isinstance(stage, str) or not isinstance(cfg, Mapping):
            raise ConfigError(f'StageAttentionBackbone attentions[{stage!r}] = {cfg!r}: each '
                              f'entry maps a stage name (a str) to an attention config (a '
                              f'dict with a type), {example}')


def _check_stage_names(backbone: nn.Module, names: Iterable[str]) -> None:
    """Raise a ConfigError unless every name is a dotted submodule path of ``backbone``;
    for an unknown ``'layer4.3'`` whose ``'layer4'`` exists (a block past the stage's
    last), the message also lists the submodules of ``layer4``."""
    names = list(names)
    top_level = [name for name, _ in backbone.named_children()]
    if '' in names:
        raise ConfigError(
            f"StageAttentionBackbone attentions key '' names the whole "
            f'{type(backbone).__name__}, not a stage: use a dotted submodule path, e.g. one of '
            f'its top-level submodules {top_level}')
    modules = dict(backbone.named_modules())
    unknown = sorted(set(names) - set(modules))
    if unknown:
        parents = sorted({name.rpartition('.')[0] for name in unknown} & set(modules) - {''})
        inside = ''.join(f', and those of {parent} are '
                         f'{[name for name, _ in modules[parent].named_children()]}'
                         for parent in parents)
        stages = 'stage' if len(unknown) == 1 else 'stages'
        raise ConfigError(f'StageAttentionBackbone: {type(backbone).__name__} has no {stages} '
                          f'named {", ".join(map(repr, unknown))}; its top-level submodules '
                          f'are {top_level}{inside}')


def _check_required_arguments(backbone: object, attentions: object,
                              others: Mapping[str, Any]) -> None:
    """Raise a ConfigError naming ``backbone`` or ``attentions`` when it is missing, with
    the key of ``others`` that is a near-spelling of it (``attention=``)."""
    for name, value in (('backbone', backbone), ('attentions', attentions)):
        if value is None:
            close = difflib.get_close_matches(name, list(others), n=1)
            given = f', not {close[0]!r}' if close else ''
            raise ConfigError(f'StageAttentionBackbone needs {name}=dict(...){given}: the '
                              f'wrapped backbone\'s config in backbone, and a dict of stage '
                              f'name → attention config in attentions')


def _check_no_backbone_arguments(others: Mapping[str, Any], backbone: object) -> None:
    """Raise a ConfigError naming the keys StageAttentionBackbone got beside ``backbone``,
    ``attentions`` and ``init_cfg``. They are the wrapped backbone's: put there by hand, or
    merged in from a base config whose ``model.backbone`` (``dict(type='ResNet', depth=50,
    ...)``) a child config turns into the wrapper without ``_delete_=True``."""
    if not others:
        return
    inner = backbone.get('type') if isinstance(backbone, Mapping) else None
    raise ConfigError(
        f'StageAttentionBackbone takes backbone, attentions and init_cfg, not '
        f'{sorted(others)}: arguments of the wrapped backbone'
        f'{f" ({inner})" if inner else ""} go inside backbone=dict(...), and a config that '
        f"turns an inherited model.backbone into the wrapper sets _delete_=True in it to drop "
        f"the base config's backbone keys")


@MODELS.register_module()
class StageAttentionBackbone(BaseModule):
    """A backbone whose named stages are each followed by an attention module.

    Args:
        backbone: config of any registered backbone (e.g. ``mmpretrain.ResNet``,
            ``mmseg.ResNetV1c``).
        attentions: stage name → attention config. A stage name is a dotted submodule
            path of the backbone (``'layer1'``, ``'stages.0'``); its output must be a
            (B, C, H, W) tensor and it must run once per forward (not a block's shared
            ``relu``, nor a module its parent skips; a ModuleList is refused at build
            time), else the first forward raises a ``ConfigError`` naming the stage, as
            does an attention that refuses the map (a wrong ``in_channels``). The module
            is ``attentions.<stage name>`` with dots as underscores
            (``attentions.stages_0``), so two names that differ only there are refused.
            An unknown or empty stage name, or an attention that refuses its config,
            raises a ``ConfigError`` naming the stage at build time.
        backbone, attentions: required; a missing one is a ``ConfigError`` naming a key of
            ``others`` spelt like it (``attention=``).
        others: refused with a ``ConfigError`` naming them: the wrapped backbone's
            arguments (``depth``, ``out_indices``) go in ``backbone``, and a config that
            turns an inherited ``model.backbone`` into this wrapper sets ``_delete_=True``.

    A state dict with the wrapped backbone's keys one level up (``<prefix>conv1.weight``
    where this module has ``<prefix>backbone.conv1.weight``: a plain classifier's or a bare
    backbone's checkpoint) loads into ``backbone``; one in this module's own layout loads
    unchanged.
    """

    def __init__(self, backbone: dict | None = None, attentions: dict[str, dict] | None = None,
                 init_cfg: dict | None = None, **others: Any) -> None:
        _check_required_arguments(backbone, attentions, others)
        _check_no_backbone_arguments(others, backbone)
        super().__init__(init_cfg)
        _check_attentions_mapping(attentions)
        self.backbone = MODELS.build(backbone)
        _check_stage_names(self.backbone, attentions)
        _check_stages_are_called(self.backbone, attentions)
        stages = dict(self.backbone.named_modules())
        keys = [name.replace('.', '_') for name in attentions]
        if len(set(keys)) < len(keys):
            raise ConfigError(f'stage names {sorted(attentions)} give the same attention '
                              f'module name once dots become underscores; attend each stage '
                              f'once')
        # mmengine's ModuleDict: init_weights reaches each attention's init_cfg
        self.attentions = ModuleDict(
            {key: _build_attention(cfg, name)
             for key, (name, cfg) in zip(keys, attentions.items())})
        self._stage_names = tuple(attentions)
        self._origin = object()  # shared with the replicas nn.DataParallel makes
        for name, key in zip(attentions, keys):
            stages[name].register_forward_hook(partial(
                _attend_output, self, self._origin, key, type(self.backbone).__name__, name))

    @property
    def out_indices(self) -> Sequence[int]:
        """The wrapped backbone's ``out_indices`` (which stages' outputs it returns), read by
        code that counts a backbone's maps; an AttributeError where it has none."""
        return self.backbone.out_indices

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple[int, int]:
        """(layer id, number of layers) of a model parameter, the wrapped backbone's own
        ``get_layer_depth`` extended to the attentions, for mmpretrain's layer-wise
        learning-rate decay (``LearningRateDecayOptimWrapperConstructor``, which reaches it
        through the classifier's ``get_layer_depth``).

        The wrapped backbone's parameters keep the depth it gives them; an attention takes
        the depth of the deepest parameter of the stage it follows (a stage without
        parameters, such as a pooling, gives 0); a parameter outside this backbone (the
        head) is left to the wrapped backbone's rule.

        Args:
            param_name: a parameter's name in the whole model, e.g.
                ``'backbone.attentions.layer1.spatial_gate.theta.conv.weight'``.
            prefix: this backbone's name in the model plus a dot (``'backbone.'`` in a
                classifier).

        Raises:
            NotImplementedError: the wrapped backbone has no ``get_layer_depth``, as
                mmpretrain's classifiers raise for such a backbone.
        """
        if not hasattr(self.backbone, 'get_layer_depth'):
            raise NotImplementedError(
                f'layer-wise learning-rate decay needs get_layer_depth, which the backbone '
                f'{type(self.backbone).__name__} wrapped by StageAttentionBackbone does not '
                f'have; train without layer_decay_rate or wrap a backbone that has it (e.g. '
                f'mmpretrain.ResNet, mmpretrain.ConvNeXt)')
        inner, attention = f'{prefix}backbone.', f'{prefix}attentions.'
        if param_name.startswith(inner):  # named as the backbone would be without wrapper
            return self.backbone.get_layer_depth(prefix + param_name[len(inner):], prefix)
        if param_name.startswith(attention):
            key = param_name[len(attention):].partition('.')[0]
            return self._stage_depth(self._stage_names[list(self.attentions).index(key)],
                                     prefix)
        return self.backbone.get_layer_depth(param_name, prefix)

    def _stage_depth(self, stage: str, prefix: str) -> tuple[int, int]:
        """(layer id, number of layers) of the deepest parameter of the wrapped backbone's
        ``stage``; (0, number of layers) for a stage without parameters."""
        depths = [self.backbone.get_layer_depth(f'{prefix}{stage}.{name}', prefix)
                  for name, _ in self.backbone.get_submodule(stage).named_parameters()]
        if depths:
            return max(depths)
        first = next(iter(self.backbone.named_parameters()))[0]
        return 0, self.backbone.get_layer_depth(prefix + first, prefix)[1]

    def _load_from_state_dict(self, state_dict: MutableMapping[str, Any], prefix: str,
                              *args, **kwargs) -> None:
        """Move a plain model's backbone keys under ``backbone.``, then load as torch does
        (mmengine's ``load_checkpoint``, ``init_cfg`` Pretrained and ``load_from`` all come
        through here, as does ``load_state_dict``)."""
        _nest_backbone_keys(state_dict, prefix, self.backbone.state_dict().keys())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the backbone; every configured stage's output passes through its attention
        (a stage that runs twice, or not at all, in an eager forward is a ConfigError
        naming it)."""
        if _traced():
            return self.backbone(*args, **kwargs)
        runs = Counter()
        running = _RUNNING.set({**_RUNNING.get(), self._origin: (self, runs)})
        try:
            output = self.backbone(*args, **kwargs)
        finally:
            _RUNNING.reset(running)
        _check_every_stage_ran(runs, self._stage_names, type(self.backbone).__name__)
        return output


def as_model_reads(model: nn.Module, state_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``state_dict`` with the keys as ``model`` reads them on loading: a plain
    model's backbone keys moved under each StageAttentionBackbone's ``backbone.``, for
    comparing a checkpoint's names with ``model.state_dict()`` before loading it."""
    state_dict = dict(state_dict)
    for name, module in model.named_modules():  # outer modules first, as loading goes
        if isinstance(module, StageAttentionBackbone):
            prefix = f'{name}.' if name else ''
            _nest_backbone_keys(state_dict, prefix, module.backbone.state_dict().keys())
    return state_dict
