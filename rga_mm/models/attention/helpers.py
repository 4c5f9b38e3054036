"""What the attention modules of rga_mm share: the input check, the built map size, the
width of a reduced embedding, and the ``forward`` of a gate, alone or two in one of RGA's
orders.

* :func:`check_feature_map`: every module takes a floating-point (B, C, H, W) tensor built
  for C channels, of its weights' dtype, and says so in one sentence when it gets something
  else;
* :func:`checked_in_channels`: the C a module is built for, a positive int;
* :func:`check_batch_norm_values`: refuses in one sentence the batch of one 1×1 image that
  would leave a module's BatchNorm layers one value per channel in training;
* :func:`built_map_size`: the (h, w) a size-aware module (RGA, FC-S) is built for, from a
  pair or one int for a square map, and :func:`check_map_size`, which refuses a map of
  another size in one sentence;
* :func:`empty_batch_output`: the (0, C, H, W) output of RGA and the non-local block for a
  batch of no images;
* :func:`any_case_choice`: a string option (RGA's and the gates' ``mode``, RGA's
  ``relation_path``, the non-local block's ``mode``) compared without case, refusing any
  other value in one sentence with the closest choice;
* :func:`reduced_width`: ⌊width / reduction⌋ for the bottlenecks of RGA (s1), SE, CBAM, the
  FC attentions and the non-local block, refusing a reduction that leaves nothing, naming
  the module and argument;
* :func:`check_norm_cfg`: refuses in one sentence a ``norm_cfg`` whose type mmcv's
  ``build_norm_layer`` would not find, naming the module, the setting and the closest
  registered norm type;
* :class:`ChannelAttention`, :class:`SpatialAttention`: out = x · gate(x) for a module that
  defines ``channel_attention`` (SE, CBAM-C, FC-C) or ``spatial_attention`` (CBAM-S, FC-S);
* :class:`SpatialChannelAttention`: the ``'CS'``, ``'SC'`` and ``'S//C'`` compositions of two
  gates (paper §3.4), which CBAM and FC-S/C use.
"""
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from rga_mm.checks import is_int, positive_int
from rga_mm.errors import ConfigError, MapSizeError, closest_choice_hint, type_name
from rga_mm.unregistered_type import registered_names

GATE_ORDERS = ('CS', 'SC', 'S//C')
# the norm layers mmcv's build_norm_layer names (its infer_abbr tells these kinds apart)
NORM_LAYERS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def check_feature_map(x: Tensor, in_channels: int, owner: str,
                      module: nn.Module | None = None) -> None:
    """Raise one clear sentence unless ``x`` is a floating-point (B, ``in_channels``, H, W)
    tensor with H, W >= 1, of the dtype of ``module``'s weights when one is given (any
    floating dtype under ``torch.autocast``, which casts for each operation).

    The type and dtype tests read no size, so a traced or exported graph keeps its sizes
    free; a tensor's dtype is fixed in such a graph anyway.
    """
    if isinstance(x, (tuple, list)) and x and all(isinstance(item, Tensor) for item in x):
        raise ConfigError(
            f'{owner} attends one feature map, got a {type_name(x)} of {len(x)} tensors, as '
            f'a backbone gives its stages\' outputs: wrap the backbone in '
            f'rga_mm.StageAttentionBackbone to attend the stages you choose '
            f'(docs/attention_zoo.md), or pass one map of the {type_name(x)}')
    if not isinstance(x, Tensor):
        raise ConfigError(f'{owner} takes a torch.Tensor feature map, got a {type_name(x)}; '
                          f'pass torch.as_tensor(x, dtype=torch.float32)')
    if not x.is_floating_point():
        raise ConfigError(f'{owner} takes a floating-point feature map, got a {x.dtype} '
                          f'tensor; pass x.float()')
    weight = None if module is None else next(module.parameters(), None)
    if (weight is not None and weight.dtype != x.dtype
            and not torch.is_autocast_enabled(x.device.type)):
        raise ConfigError(f'{owner} has {weight.dtype} weights but the feature map is '
                          f'{x.dtype}: cast one to the other (module.to({x.dtype}) or '
                          f'x.to({weight.dtype})), or run under torch.autocast')
    if x.dim() != 4:
        raise ConfigError(f'{owner} expects a 4-D (B, C, H, W) feature map, got a '
                          f'{x.dim()}-D tensor of shape {plain_shape(x)}')
    if x.shape[1] != in_channels:
        raise ConfigError(f'{owner} was built for {in_channels} channels but the feature '
                          f'map has {int(x.shape[1])} (shape {plain_shape(x)}); build it with '
                          f'in_channels={int(x.shape[1])}')
    if min(x.shape[-2:]) < 1:
        height, width = plain_shape(x, -2)
        raise ConfigError(f'{owner} received a {height}×{width} map: the input image is too '
                          f'small for the downsampling before {owner} to leave at least 1×1 '
                          f'positions')


def checked_in_channels(in_channels: object, owner: str) -> int:
    """``in_channels`` as a plain int, or one sentence naming ``owner`` unless it is a
    positive integer (:func:`rga_mm.checks.positive_int`)."""
    return positive_int(in_channels, f'{owner} in_channels',
                        'the channels of the attended feature map')


def has_training_batch_norm(module: nn.Module) -> bool:
    """Whether a BatchNorm layer in ``module`` is in training mode (takes batch statistics)."""
    return any(isinstance(layer, _BatchNorm) and layer.training for layer in module.modules())


def check_batch_norm_values(x: Tensor, module: nn.Module, owner: str) -> None:
    """Raise one sentence naming ``owner`` when a training BatchNorm layer of ``module``
    would see one value per channel, B·H·W = 1 in ``x``: torch refuses that in training
    without naming the module.

    Args:
        x: a (B, C, H, W) map with the batch and positions of the maps the BatchNorm layers
            of ``module`` normalise (their channel counts may differ from C).
        module: the module those BatchNorm layers belong to.
        owner: how the error names ``module``, e.g. ``'FCChannel'``.

    The sizes are read only in training (the BatchNorm layers read them too), so an
    exported (eval-mode) graph keeps its batch free; the layers are looked at only for such
    a batch.
    """
    if (module.training and x.shape[0] * x.shape[2] * x.shape[3] == 1
            and has_training_batch_norm(module)):
        raise ConfigError(f'{owner} in training mode received one image with a 1×1 map: its '
                          f'BatchNorm layers need more than one value per channel; train '
                          f'with batches of 2 or more images or larger inputs (eval mode '
                          f'takes any)')


def plain_shape(x: Tensor, start: int = 0) -> tuple[int, ...]:
    """``x``'s sizes from dimension ``start`` on as Python ints: under a tracer (FLOP
    counting, ONNX export) sizes are 0-D tensors, which would print as ``tensor(64)``.

    Reading a size as an int fixes it in an exported graph, so a check on the way of every
    forward reads only the sizes it tests (the batch stays free for a dynamic-batch export).
    """
    return tuple(int(side) for side in x.shape[start:])


def check_map_size(x: Tensor, built_size: tuple[int, int], owner: str, fix: str,
                   reduction: tuple[str, int]) -> None:
    """Raise one sentence unless ``x``'s map is ``built_size`` (h, w): ``owner`` was built
    for one size and received another, then ``fix``, formatted with ``built`` (``'h×w'``)
    and ``rebuild``: the settings that build it for the received size, ``spatial_size``
    and, when the received map has fewer positions than the reduction ratio
    ``reduction`` = (its name, its value) allows (:func:`reduced_width`), that ratio too."""
    size = plain_shape(x, -2)
    if size != built_size:
        built = '×'.join(map(str, built_size))
        rebuild = f'spatial_size={size}'
        name, ratio = reduction
        if size[0] * size[1] < ratio:
            rebuild += f' and {name} <= {size[0] * size[1]}'
        raise MapSizeError(f'{owner} was built for a {built} map but received '
                          f'{"×".join(map(str, size))}' + fix.format(built=built,
                                                                      rebuild=rebuild))


def built_map_size(spatial_size: int | Sequence[int], owner: str) -> tuple[int, int]:
    """(h, w) as plain ints from ``spatial_size``: a pair of positive integers (of any
    integer type, not bools), or one for a square map."""
    size = (spatial_size, spatial_size) if is_int(spatial_size) else spatial_size
    if (not isinstance(size, Sequence) or len(size) != 2
            or not all(is_int(side) and side >= 1 for side in size)):
        raise ConfigError(f'{owner} spatial_size must be (h, w) with ints h, w >= 1 (or one '
                          f'int for a square map), got {spatial_size!r}')
    return int(size[0]), int(size[1])


def empty_batch_output(module: nn.Module, x: Tensor) -> Tensor:
    """What an attention ``module`` gives for a batch of no images, (0, C, H, W), as a
    convolution gives it, for modules whose computation cannot run on one (reshapes of no
    elements; torch's BatchNorm learns nothing from an empty batch anyway).

    In training the output still depends on every parameter (through a zero), so that each
    gets a zero gradient, as from a convolution over an empty batch, and a distributed
    reducer waiting for every parameter's gradient is not left waiting.
    """
    out = x.clone()
    if module.training:
        out = out + sum(param.view(-1)[0] for param in module.parameters()) * 0.0
    return out


def any_case_choice(value: object, choices: Sequence[str], name: str) -> str:
    """``value`` as ``choices`` write it, compared without case (``'sc'`` → ``'SC'``), or one
    sentence naming ``name`` (e.g. ``'RGA mode'``), the choices and the closest of them.

    Raises:
        ConfigError: ``value`` is not a str, or none of ``choices`` in any case.
    """
    written = {choice.lower(): choice for choice in choices}
    if not isinstance(value, str) or value.lower() not in written:
        raise ConfigError(f'{name} must be one of {tuple(choices)} (in any case), got '
                          f'{value!r}{closest_choice_hint(value, choices)}')
    return written[value.lower()]


def reduced_width(width: int, reduction: object, owner: str, argument: str, units: str,
                  origin: str) -> int:
    """⌊width / reduction⌋, or one sentence naming ``owner`` and ``argument`` unless
    ``reduction`` is an int in [1, width], one that leaves at least one unit.

    Args:
        width: the width to reduce (channels, positions or nodes).
        reduction: the reduction ratio as given.
        owner: the module the error names, e.g. ``'FCSpatial'``.
        argument: the name of ``reduction``'s argument, e.g. ``'hidden_reduction'``.
        units: what ``width`` counts, e.g. ``'positions'``.
        origin: the setting ``width`` comes from, e.g. ``'spatial_size 7×7'``.

    Raises:
        ConfigError: ``reduction`` is not a positive int, or exceeds ``width``.
    """
    reduction = positive_int(reduction, f'{owner} {argument}', 'a reduction ratio, 1 for none')
    if reduction > width:
        raise ConfigError(f'{owner} {argument}={reduction} does not fit its {width} {units} '
                          f'({origin}): set {argument} to at most {width} or build {owner} '
                          f'for at least {reduction} {units}')
    return width // reduction


def registered_norm_types() -> list[str]:
    """The names of the norm layers that mmcv's ``build_norm_layer`` finds (``BN``, ``SyncBN``,
    ``GN``, ``LN``, ``IN``, ``BN1d``, ...): those in the registry it looks in, the default
    scope's ``MODELS``, and in its parents up to mmengine's."""
    with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
        return [name for name in registered_names(registry)
                if inspect.isclass(layer := registry.get(name)) and issubclass(layer, NORM_LAYERS)]


def check_norm_cfg(norm_cfg: object, owner: str, setting: str = 'norm_cfg') -> None:
    """Raise one sentence naming ``owner`` and ``setting`` unless ``norm_cfg`` is None or a
    dict whose ``'type'`` is a class or a name that mmcv's ``build_norm_layer`` finds, looked
    up as it looks it up: mmcv refuses the others with a KeyError that names neither the
    setting nor the type.

    Raises:
        ConfigError: ``norm_cfg`` is not a dict, has no ``'type'``, or names no registered
            norm type (the message gives the closest).
    """
    if norm_cfg is None:
        return
    if not isinstance(norm_cfg, dict):
        raise ConfigError(f'{owner} {setting} must be a dict such as dict(type=\'BN\') or None, '
                          f'got {norm_cfg!r}')
    if 'type' not in norm_cfg:
        raise ConfigError(f'{owner} {setting}={norm_cfg!r} has no \'type\' key; name the norm '
                          f'layer with one, e.g. {setting}=dict(type=\'BN\')')
    norm_type = norm_cfg['type']
    if inspect.isclass(norm_type):
        return
    with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:  # build_norm_layer's
        found = isinstance(norm_type, str) and registry.get(norm_type) is not None
    if not found:
        types = registered_norm_types()
        raise ConfigError(f'{owner} {setting} type {norm_type!r} is not a registered norm layer '
                          f'(those are {", ".join(types)}){closest_choice_hint(norm_type, types)}')


def check_norm_takes_maps(norm: nn.Module | None, channels: int, owner: str, setting: str,
                          norm_cfg: dict | None, what: str) -> None:
    """Raise one sentence naming ``owner`` and ``setting`` unless ``norm`` (built from
    ``norm_cfg`` after the conv ``what``; None for no norm) normalises that conv's
    (B, ``channels``, H, W) output: tried on a 2×``channels``×2×2 map in eval mode, which
    changes no running statistic. A LayerNorm (over the last axis) or a BatchNorm of
    another dimension (BN1d, BN3d) would otherwise fail at every forward in torch's
    words, naming neither the module nor the setting.

    Raises:
        ConfigError: the norm refuses such a map.
    """
    if norm is None:
        return
    training = norm.training
    norm.eval()
    try:
        with torch.no_grad():
            norm(torch.zeros(2, channels, 2, 2))
    except (RuntimeError, ValueError) as error:
        raise norm_refusal(owner, setting, norm_cfg, channels, what, str(error)) from None
    finally:
        norm.train(training)


def normed_conv(owner: str, setting: str, norm_cfg: dict | None, what: str, in_channels: int,
                out_channels: int, kernel_size: int, **kwargs: Any) -> ConvModule:
    """mmcv's ``ConvModule(in_channels, out_channels, kernel_size, norm_cfg=norm_cfg,
    **kwargs)``, ``what`` of ``owner``, whose norm (``setting``) must normalise its output
    maps (:func:`check_norm_takes_maps`); a norm that mmcv or torch refuses to build for
    ``out_channels`` (a GN whose num_groups does not divide them) is refused alike."""
    try:
        conv = ConvModule(in_channels, out_channels, kernel_size, norm_cfg=norm_cfg, **kwargs)
    except (ValueError, AssertionError) as error:
        raise norm_refusal(owner, setting, norm_cfg, out_channels, what, str(error)) from None
    check_norm_takes_maps(conv.norm if conv.with_norm else None, out_channels, owner, setting,
                          norm_cfg, what)
    return conv


def norm_refusal(owner: str, setting: str, norm_cfg: dict | None, channels: int, what: str,
                 reason: str) -> ConfigError:
    """The sentence for a ``norm_cfg`` that cannot normalise the ``channels``-channel output
    of ``owner``'s conv ``what`` (``reason``: the norm's or mmcv's own message)."""
    return ConfigError(f'{owner} {setting}={norm_cfg!r} cannot normalise the {channels}-channel '
                       f'output of its {what} ({reason.strip() or "mmcv refused it"}): use a '
                       f'norm of (B, C, H, W) maps, such as BN, SyncBN or GN with num_groups '
                       f'dividing {channels}')


class SingleGateAttention(BaseModule):
    """An attention that scales its input by one gate: out = x · gate(x), the gate
    broadcast over the map.

    Subclasses set ``in_channels`` and define :meth:`gate`, their public gate method
    (``channel_attention`` or ``spatial_attention``), which checks its input first
    (:meth:`check_input`): another module may call the gate alone.
    """

    in_channels: int

    def check_input(self, x: Tensor) -> None:
        """Raise one clear sentence unless ``x`` is a (B, C, H, W) map of ``in_channels``."""
        check_feature_map(x, self.in_channels, type(self).__name__, self)

    def gate(self, x: Tensor) -> Tensor:
        """The gate of ``x``, values in (0, 1), to multiply ``x`` by."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape."""
        self.check_input(x)
        check_batch_norm_values(x, self, type(self).__name__)
        return x * self.gate(x)


class ChannelAttention(SingleGateAttention):
    """An attention that scales each channel: out = x · a_c(x), ``channel_attention``:
    (B, C, H, W) → (B, C, 1, 1)."""

    def gate(self, x: Tensor) -> Tensor:
        return self.channel_attention(x)


class SpatialAttention(SingleGateAttention):
    """An attention that scales each position: out = x · a_s(x), ``spatial_attention``:
    (B, C, H, W) → (B, 1, H, W)."""

    def gate(self, x: Tensor) -> Tensor:
        return self.spatial_attention(x)


class SpatialChannelAttention(BaseModule):
    """A channel gate and a spatial gate applied in one of RGA's orders.

    ``'CS'``: x̂ = x·a_c(x), out = x̂·a_s(x̂); ``'SC'``: the reverse; ``'S//C'`` (parallel):
    out = x·a_s(x)·a_c(x). The gates are modules with ``channel_attention`` (B, C, H, W) →
    (B, C, 1, 1) and ``spatial_attention`` (B, C, H, W) → (B, 1, H, W) methods, kept as
    ``channel_gate`` and ``spatial_gate``.

    Args:
        in_channels: C.
        channel_gate: the module whose ``channel_attention`` gives a_c.
        spatial_gate: the module whose ``spatial_attention`` gives a_s.
        mode: ``'CS'``, ``'SC'`` or ``'S//C'``, in any case (as RGA's).
    """

    def __init__(self, in_channels: int, channel_gate: nn.Module, spatial_gate: nn.Module,
                 mode: str, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.mode = any_case_choice(mode, GATE_ORDERS, f'{type(self).__name__} mode')
        self.channel_gate = channel_gate
        self.spatial_gate = spatial_gate

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape."""
        check_feature_map(x, self.in_channels, type(self).__name__, self)
        check_batch_norm_values(x, self, type(self).__name__)
        channel, spatial = self.channel_gate, self.spatial_gate
        if self.mode == 'CS':
            x = x * channel.channel_attention(x)
            return x * spatial.spatial_attention(x)
        if self.mode == 'SC':
            x = x * spatial.spatial_attention(x)
            return x * channel.channel_attention(x)
        return x * spatial.spatial_attention(x) * channel.channel_attention(x)
