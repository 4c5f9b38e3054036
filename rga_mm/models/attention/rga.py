"""Relation-Aware Global Attention (Zhang et al., CVPR 2020), the registered ``RGA`` module.

RGA-S gates every spatial position with a relation-aware gate over the H·W positions
(paper §3.2); RGA-C gates every channel with the same gate over the C channels, read from
the transposed view (§3.3); §3.4 combines them. Modes:

=======  ===================================================  paper name
``S``    out = x · σ(S(x))                                   RGA-S
``C``    out = x · σ(C(x))                                   RGA-C
``SC``   x̂ = x · σ(S(x)); out = x̂ · σ(C(x̂))                 RGA-SC (the paper's best)
``CS``   x̂ = x · σ(C(x)); out = x̂ · σ(S(x̂))                 RGA-CS
``S//C`` out = x · σ(S(x)) · σ(C(x))                         RGA-S//C (parallel)
=======  ===================================================  ==========

``RGA(in_channels, spatial_size=(h, w))`` with no other argument is the re-ID module of the
paper (§4.1.1): RGA-SC with s1 = s2 = 8, relations computed by the factorized path.

Variable input sizes (§4.2 Discussion): with ``variable_size=True`` a map of another size
takes its spatial relations against the built (h, w) grid pooled by RoIAlign, and the channel
gate is computed from the map pooled to (h, w); the gates are applied at full resolution.
"""
import math
import warnings

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules import module as nn_module
from torch.nn.modules.batchnorm import _BatchNorm

from rga_mm.checks import flag, is_positive_int
from rga_mm.errors import ConfigError
from rga_mm.registry import MODELS
from .helpers import (
    any_case_choice,
    built_map_size,
    check_batch_norm_values,
    check_feature_map,
    check_map_size,
    checked_in_channels,
    empty_batch_output,
    has_training_batch_norm,
)
from .reference_grid import pool_to_grid
from .relation_gate import RelationGate

MODES = ('S', 'C', 'SC', 'CS', 'S//C')
# more weights than this (1 GiB in float32) means an image size given as spatial_size: the
# largest map of the paper's models, 64×32 after layer1, gives RGA-SC 2.7 M
MAX_WEIGHTS = 2**28


def largest_weight_count(in_channels: int, spatial_size: tuple[int, int], mode: str,
                         reduction: int) -> int:
    """How many weights the 1×1 convolutions of θ, φ, ψ (D·D/s1 each) and ϕ (2N·N/s1) of
    RGA's gates hold, which dominate its size: D = C features of N = h·w nodes in the
    spatial branch, D = h·w features of N = C nodes in the channel branch."""
    positions = spatial_size[0] * spatial_size[1]

    def gate(features: int, nodes: int) -> int:
        return (3 * features * max(1, features // reduction)
                + 2 * nodes * max(1, nodes // reduction))

    return ((gate(in_channels, positions) if 'S' in mode else 0)
            + (gate(positions, in_channels) if 'C' in mode else 0))


def check_weight_count(in_channels: int, spatial_size: tuple[int, int], mode: str,
                       reduction: int) -> None:
    """Refuse an RGA of more than :data:`MAX_WEIGHTS` weights before allocating them (an
    image size given as ``spatial_size`` asks for hundreds of gigabytes), in one sentence
    that says what ``spatial_size`` is."""
    weights = largest_weight_count(in_channels, spatial_size, mode, reduction)
    if weights > MAX_WEIGHTS:
        raise ConfigError(
            f'RGA(in_channels={in_channels}, spatial_size={spatial_size}, mode={mode!r}, '
            f'reduction={reduction}) would hold about {weights / 1e9:.2f} G weights '
            f'({weights * 4 / 2**30:.1f} GiB in float32): spatial_size is the size of the '
            f'feature map RGA receives, the input size divided by the stride of the layers '
            f'before it (the paper\'s re-ID model: (64, 32) after layer1 of a 256×128 image), '
            f'not the size of the image')


def untrained_frozen_norms(module: torch.nn.Module) -> list[str]:
    """The names of ``module``'s BatchNorms that are in eval mode with running statistics
    they never updated (their initial mean 0 and variance 1)."""
    return [name for name, norm in module.named_modules()
            if isinstance(norm, _BatchNorm) and not norm.training and norm.track_running_stats
            and int(norm.num_batches_tracked) == 0]


def channel_node_grid(channels: int) -> tuple[int, int]:
    """(g, C / g), g the largest divisor of C up to √C: the grid the channel nodes are laid on.

    The channel branch relates all C channels whatever their arrangement; a grid with both
    sides above 1 lets the transposed view of a (B, C, H, W) map be a channels-last tensor.
    """
    rows = max(g for g in range(1, math.isqrt(channels) + 1) if channels % g == 0)
    return rows, channels // rows


@MODELS.register_module()
class RGA(BaseModule):
    """Relation-Aware Global Attention for a (B, C, H, W) feature map; output has its shape.

    Args:
        in_channels: C, a positive int.
        spatial_size: (h, w), the map size the module is built for (N = h·w); one int
            for a square map. Any integer type (``numpy.int64`` too), stored as ints.
        mode: one of ``'S'``, ``'C'``, ``'SC'``, ``'CS'``, ``'S//C'`` (see module docstring).
        reduction: s1, embedding reduction of θ, φ, ψ and ϕ (official ``cha_ratio`` and
            ``spa_ratio``).
        gate_reduction: s2, reduction inside W1 (official ``down_ratio``), an int >= 1.
        use_relation: False gives the paper's "w/o Rel." ablation.
        use_appearance: False gives the paper's "w/o Vis." ablation.
        relation_path: ``'factorized'`` (default, never forms the N×N relation matrix) or
            ``'dense'`` (materialises it, as the paper), in any case; both give equal results.
        variable_size: accept maps of another size through the RoIAlign reference grid.
        norm_cfg: normalisation after every 1×1 conv, down to the gate's 1-channel
            logits: BN (default), SyncBN, or GN with ``num_groups=1``.
    """

    _abbr_ = 'rga'  # name stem when built by mmcv's build_plugin_layer
    # the paper's symbols and the official code's names of two arguments, named in the
    # error for a config that writes them
    ARGUMENT_ALIASES = {'s1': 'reduction', 's2': 'gate_reduction', 'cha_ratio': 'reduction',
                        'spa_ratio': 'reduction', 'down_ratio': 'gate_reduction'}

    def __init__(self,
                 in_channels: int,
                 spatial_size: int | tuple[int, int],
                 mode: str = 'SC',
                 reduction: int = 8,
                 gate_reduction: int = 8,
                 use_relation: bool = True,
                 use_appearance: bool = True,
                 relation_path: str = 'factorized',
                 variable_size: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        mode = any_case_choice(mode, MODES, 'RGA mode')
        in_channels = checked_in_channels(in_channels, 'RGA')
        self.in_channels = in_channels
        self.spatial_size = built_map_size(spatial_size, 'RGA')
        self.mode = mode
        self.variable_size = flag(variable_size, 'RGA variable_size')
        self.reduction = reduction
        if is_positive_int(reduction):  # else the gates refuse it, naming it
            check_weight_count(in_channels, self.spatial_size, mode, reduction)
        self._norm_modes_checked = False
        height, width = self.spatial_size
        gate_cfg = dict(reduction=reduction, gate_reduction=gate_reduction,
                        use_relation=flag(use_relation, 'RGA use_relation'),
                        use_appearance=flag(use_appearance, 'RGA use_appearance'),
                        relation_path=relation_path, norm_cfg=norm_cfg)
        if 'S' in mode:
            self.spatial_gate = RelationGate(in_channels, self.spatial_size, **gate_cfg)
        if 'C' in mode:
            self.channel_gate = RelationGate(height * width, channel_node_grid(in_channels),
                                             **gate_cfg)
        self._group_norm_spatial_gate = 'S' in mode and _has_group_norm(self.spatial_gate)
        if self._group_norm_spatial_gate and height * width == 1:
            raise _single_node_refusal('spatial')
        if 'C' in mode and in_channels == 1 and _has_group_norm(self.channel_gate):
            raise _single_node_refusal('channel')

    def spatial_attention(self, x: Tensor) -> Tensor:
        """RGA-S gate a_s: (B, C, H, W) → (B, 1, H, W), values in (0, 1)."""
        self._check_has_gate('S', 'spatial')
        self.check_input(x)
        return self._spatial_attention(x)

    def channel_attention(self, x: Tensor) -> Tensor:
        """RGA-C gate a_c: (B, C, H, W) → (B, C, 1, 1), values in (0, 1)."""
        self._check_has_gate('C', 'channel')
        self.check_input(x)
        return self._channel_attention(x)

    def _check_has_gate(self, branch: str, name: str) -> None:
        if branch not in self.mode:
            modes = tuple(mode for mode in MODES if branch in mode)
            raise ConfigError(f'RGA mode {self.mode!r} has no {name} gate; build it with one '
                              f'of the modes {modes} to compute a_{branch.lower()}')

    def _spatial_attention(self, x: Tensor) -> Tensor:
        """:meth:`spatial_attention` of a map already checked."""
        return torch.sigmoid(self.spatial_gate(x))

    def _channel_attention(self, x: Tensor) -> Tensor:
        """:meth:`channel_attention` of a map already checked."""
        logits = self.channel_gate(self.channel_nodes(x))  # (B, 1, g, C / g)
        return torch.sigmoid(logits).reshape(x.shape[0], -1, 1, 1)

    def channel_nodes(self, x: Tensor) -> Tensor:
        """The node map of the channel branch: (B, C, H, W) → (B, h·w, g, C / g).

        Channel c is node (c // (C / g), c % (C / g)) and its features are its h·w values
        (the map pooled to (h, w) first when its size differs). Of a contiguous map it is a
        view that copies nothing (another layout, such as channels-last, is copied once),
        and a channels-last tensor, which a 1×1 convolution reads as one large GEMM.
        """
        if tuple(x.shape[-2:]) != self.spatial_size:
            x = pool_to_grid(x, self.spatial_size)
        grid_height, grid_width = self.channel_gate.grid_size
        return x.reshape(x.shape[0], grid_height, grid_width, -1).permute(0, 3, 1, 2)

    def check_input(self, x: Tensor) -> None:
        """Raise one clear sentence when ``x`` cannot be attended by this module."""
        check_feature_map(x, self.in_channels, 'RGA', self)
        if 'S' in self.mode:
            check_batch_norm_values(x, self.spatial_gate, 'RGA')
        if ('C' in self.mode and self.in_channels == 1 and x.shape[0] == 1
                and self.channel_gate.training and has_training_batch_norm(self.channel_gate)):
            raise ConfigError('RGA in training mode received one image of its one channel: '
                              'the BatchNorm layers of its channel gate normalise over the '
                              'channels, its nodes, and need more than one value per '
                              'channel; train with batches of 2 or more images (eval mode '
                              'takes any)')
        if (self._group_norm_spatial_gate and not _traced()
                and x.shape[2] * x.shape[3] == 1):  # a variable-size RGA at a 1×1 map
            raise _single_node_refusal('spatial')
        if not self.variable_size:
            check_map_size(x, self.spatial_size, 'RGA', '; build it with {rebuild} or set '
                           'variable_size=True to pool onto the {built} reference grid',
                           ('reduction', self.reduction))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        """torch's loading, with one sentence first among the errors when the checkpoint's
        RGA was built for other channels or positions: torch would only list each tensor's
        size mismatch, and mmengine's lenient loading warn and leave them untrained."""
        *_, error_msgs = args
        sizes = checkpoint_sizes(state_dict, prefix)
        height, width = self.spatial_size
        built = dict(channels=self.in_channels, positions=height * width)
        if any(sizes.get(name, value) != value for name, value in built.items()):
            found = ' and '.join(f'{value} {name}' for name, value in sizes.items())
            where = f' {prefix[:-1]}' if prefix else ''
            error_msgs.append(
                f'the checkpoint\'s RGA{where} was built for {found}, this one for '
                f'{self.in_channels} channels and {height}×{width} = {height * width} '
                f'positions: RGA\'s weights fix its in_channels and the h·w of its '
                f'spatial_size, so build it with the checkpoint\'s (with variable_size=True '
                f'it then attends maps of any size)')
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _warn_if_norms_frozen(self) -> None:
        """At the first training forward: warn when RGA's BatchNorms are in eval mode with
        statistics they never learned, as a backbone built with ``norm_eval=True`` leaves
        every BatchNorm below it, RGA's included. The gate logits are then the raw outputs of
        freshly initialised convolutions: the gates stay near 0.5 and barely learn. Not
        checked while a graph is traced or compiled (reading a statistic would break it)."""
        if _traced():
            return
        self._norm_modes_checked = True
        frozen = untrained_frozen_norms(self)
        if frozen:
            warnings.warn(
                f'RGA(in_channels={self.in_channels}, spatial_size={self.spatial_size}) '
                f'trains with {len(frozen)} of its BatchNorms in eval mode at statistics '
                f'they never learned (a backbone built with norm_eval=True sets every '
                f'BatchNorm below it to eval mode, RGA\'s included), so its gates stay near '
                f'0.5 and barely learn: build the backbone with norm_eval=False, or RGA with '
                f'norm_cfg=dict(type=\'GN\', num_groups=1), which norm_eval leaves alone',
                stacklevel=2)

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape (also for B = 0).
        ``x`` is checked once: a gated map has its shape.

        The orders are those of ``helpers.SpatialChannelAttention`` (CBAM, FC-S/C), written
        out here because RGA also has the single-branch modes, an empty batch, and gates
        applied in place to its own temporaries when autograd is off.
        """
        self.check_input(x)
        if self.training and not self._norm_modes_checked:
            self._warn_if_norms_frozen()
        if x.shape[0] == 0:
            # the gates are not computed: the channel nodes of no images cannot be laid out
            # (a reshape of no elements) and pooling onto the reference grid refuses them
            return empty_batch_output(self, x)
        if self.mode == 'S//C':  # both gates read x
            spatial, channel = self._spatial_attention(x), self._channel_attention(x)
            return _apply_gate(x * spatial, channel, owned=True)
        out = x
        for branch in self.mode:  # 'S', 'C', 'SC' or 'CS': each gate reads the map gated so far
            attention = self._spatial_attention if branch == 'S' else self._channel_attention
            gate = self.spatial_gate if branch == 'S' else self.channel_gate
            out = _apply_gate(out, attention(out), owned=out is not x, reader=gate)
        return out


def checkpoint_sizes(state_dict: dict, prefix: str) -> dict[str, int]:
    """The ``channels`` (C) and ``positions`` (h·w) of the RGA whose tensors ``state_dict``
    holds under ``prefix``, those its tensors tell: a gate's embeddings read its node
    features (C in the spatial gate, h·w in the channel gate) and its relation embedding
    2 × its nodes (h·w, C)."""
    sizes = {}
    for gate, features, nodes in (('spatial_gate', 'channels', 'positions'),
                                  ('channel_gate', 'positions', 'channels')):
        for name in ('theta', 'appearance_embed'):
            weight = state_dict.get(f'{prefix}{gate}.{name}.conv.weight')
            if weight is not None and weight.dim() == 4:
                sizes.setdefault(features, int(weight.shape[1]))
                break
        weight = state_dict.get(f'{prefix}{gate}.relation_embed.conv.weight')
        if weight is not None and weight.dim() == 4:
            sizes.setdefault(nodes, int(weight.shape[1]) // 2)
    return dict(sorted(sizes.items()))


def _has_group_norm(gate: nn.Module) -> bool:
    return any(isinstance(layer, nn.GroupNorm) for layer in gate.modules())


def _single_node_refusal(branch: str) -> ConfigError:
    """The error for a GroupNorm gate of one node: GroupNorm normalises a gate's 1-channel
    logits over its nodes, so one node's logit is always 0."""
    nodes, what, other = (('positions', 'a 1×1 map', "'C'") if branch == 'spatial'
                          else ('channels', 'a map of one channel', "'S'"))
    return ConfigError(
        f'RGA with GroupNorm cannot attend {what}: GroupNorm normalises the {branch} gate\'s '
        f'1-channel logits over its nodes, the {nodes}, so with one node the logit is always '
        f'0 and the attention a constant 0.5 (torch refuses a single image outright); use BN '
        f'or SyncBN in norm_cfg, or mode={other} to leave the {branch} gate out')


def _traced() -> bool:
    """Whether the forward is being traced or compiled, where reading a size fixes it."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _hooked(module: nn.Module) -> bool:
    """Whether a forward hook may see what ``module`` reads: one registered on it, on one
    of its submodules or for every module."""
    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def _apply_gate(x: Tensor, gate: Tensor, owned: bool,
                reader: nn.Module | None = None) -> Tensor:
    """``x · gate``, in place when ``x`` is RGA's own temporary and autograd is off, unless
    a forward hook may have kept ``x`` from the module that read it (``reader``, a gate).

    Never in place under ``torch.jit.trace``: the traced graph must not depend on the grad
    mode it was traced in (the tracer's check reruns it without grad, and a graph traced
    without grad is trained with it).
    """
    in_place = (owned and not torch.is_grad_enabled() and not torch.jit.is_tracing()
                and not (reader is not None and _hooked(reader)))
    return x.mul_(gate) if in_place else x * gate
