"""Non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018), the registered
``NonLocal`` module: the "Non-local" and "Non-local + RGA-S" rows of the paper's Table 3.

Equations of Wang et al. (§3), embedded Gaussian instantiation, for x with N positions:
    y_i = 1/C(x) Σ_j f(x_i, x_j) g(x_j),  f = exp(θ(x_i)ᵀ φ(x_j)), C(x) = Σ_j f  (Eq. 1, 3)
        i.e. y = softmax_j(θᵀφ) g, with θ, φ, g 1×1 convs C → C/2
    z_i = W_z y_i + x_i                                                      (Eq. 6)
with a BatchNorm after W_z whose scale starts at zero, so that the block starts as the
identity (§4.1). The computation is mmcv's ``NonLocal2d``, not re-implemented here; note
mmcv's default ``use_scale=True`` divides θᵀφ by √(C/2) before the softmax (Eq. 3 has no
scale; ``use_scale=False`` drops it).
"""
import inspect
from typing import Any

import torch
from mmcv.cnn import NonLocal2d, build_conv_layer
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn

from rga_mm.checks import constructor_arguments, flag, is_number
from rga_mm.errors import ConfigError, closest_choice_hint
from rga_mm.registry import MODELS
from rga_mm.unregistered_type import registered_names
from .helpers import (
    any_case_choice,
    check_batch_norm_values,
    check_feature_map,
    check_norm_cfg,
    check_norm_takes_maps,
    checked_in_channels,
    empty_batch_output,
    norm_refusal,
    plain_shape,
    reduced_width,
)

# the pairwise functions of mmcv's NonLocal2d (Wang et al. §3.2)
MODES = ('embedded_gaussian', 'gaussian', 'dot_product', 'concatenation')


def check_keyword_arguments(kwargs: dict[str, Any]) -> None:
    """Raise one sentence, with the closest name, for a keyword argument that neither
    NonLocal, mmcv's ``NonLocal2d`` constructors (``conv_cfg``) nor the ``init_weights`` they
    pass their remaining ones to (``std`` of the normal init of θ, φ, g; ``zeros_init`` of
    W_z) take: mmcv would fail with a TypeError naming ``init_weights``."""
    init_weights = inspect.signature(NonLocal2d.init_weights).parameters
    known = constructor_arguments(NonLocal) + [name for name in init_weights if name != 'self']
    for name in kwargs:
        if name not in known:
            raise ConfigError(f'NonLocal takes no argument {name!r} (it takes '
                              f'{", ".join(known)}){closest_choice_hint(name, known)}')


def check_pass_through_values(kwargs: dict[str, Any]) -> None:
    """Raise one sentence naming NonLocal for a value of the arguments it passes to mmcv
    that mmcv would take wrongly or refuse in its own words: ``zeros_init`` not a bool (the
    string 'False' counts as true), ``std`` not a number of 0 or more (torch's normal init
    refuses it), ``conv_cfg`` neither None nor a dict whose type builds a 2-D convolution
    (mmcv asserts a dict without a message, names an unregistered type as None, and builds a
    Conv3d that then fails at every forward)."""
    if 'zeros_init' in kwargs:
        flag(kwargs['zeros_init'], 'NonLocal zeros_init')
    std = kwargs.get('std', 0)
    if not is_number(std) or std < 0:
        raise ConfigError(f'NonLocal std must be a number of 0 or more (the standard deviation '
                          f'of the normal init of θ, φ and g), got {std!r}')
    conv_cfg = kwargs.get('conv_cfg')
    if conv_cfg is None:
        return
    if not isinstance(conv_cfg, dict) or 'type' not in conv_cfg:
        raise ConfigError(f"NonLocal conv_cfg must be a dict with a 'type', such as "
                          f"dict(type='Conv2d'), or None, got {conv_cfg!r}")
    try:
        probe = build_conv_layer(conv_cfg, 1, 1, 1)
    except KeyError:  # mmcv's registry names the type as None
        with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
            names = registered_names(registry)
        raise ConfigError(f'NonLocal conv_cfg type {conv_cfg["type"]!r} is not a registered '
                          f'layer{closest_choice_hint(conv_cfg["type"], names)}') from None
    if not isinstance(probe, nn.Conv2d):
        raise ConfigError(f'NonLocal conv_cfg={conv_cfg!r} builds a {type(probe).__name__}, '
                          f'not a 2-D convolution of the (B, C, H, W) map; use '
                          f"dict(type='Conv2d')")


@MODELS.register_module()
class NonLocal(NonLocal2d):
    """Non-local block; output = input + W_z(y), the input's shape.

    A subclass of mmcv's ``NonLocal2d`` that only sets Wang et al.'s defaults (BN after
    W_z, zero-initialised) and gives it rga_mm's convention: a registry entry in
    ``rga_mm`` and the clear input errors of the other attentions. mmcv registers
    ``NonLocal2d`` in mmengine's root registry with ``norm_cfg=None`` (no BN, W_z
    zero-initialised instead).

    Parameters (embedded Gaussian, c' = C // reduction): 3·(C·c' + c') + c'·C + 2·C.

    Args:
        in_channels: C, a positive int.
        reduction: C / c', the bottleneck of θ, φ, g (2 in Wang et al.), an int in [1, C]
            (as SE's, CBAM's and RGA's; mmcv would silently keep one channel for a larger
            one).
        mode: pairwise function, ``'embedded_gaussian'`` (Wang et al.'s default),
            ``'gaussian'``, ``'dot_product'`` or ``'concatenation'``, in any case.
        use_scale: divide θᵀφ by √c' (embedded Gaussian only; mmcv's default).
        sub_sample: max-pool φ and g by 2×2 (Wang et al.'s trick for large maps).
        norm_cfg: norm after W_z (BN in Wang et al.), its scale initialised to zero.
        kwargs: passed on to mmcv: ``conv_cfg`` of the convolutions, and ``std`` (0.01) and
            ``zeros_init`` (True) of ``NonLocal2d.init_weights``; any other is refused.
    """

    _abbr_ = 'non_local'

    def __init__(self, in_channels: int, reduction: int = 2,
                 mode: str = 'embedded_gaussian', use_scale: bool = True,
                 sub_sample: bool = False, norm_cfg: dict | None = dict(type='BN'),
                 **kwargs: Any) -> None:
        check_keyword_arguments(kwargs)
        check_pass_through_values(kwargs)
        in_channels = checked_in_channels(in_channels, 'NonLocal')
        # refused where it leaves no channel, as SE's, CBAM's and RGA's (mmcv would keep one)
        reduced_width(in_channels, reduction, 'NonLocal', 'reduction', 'channels', 'in_channels')
        use_scale = flag(use_scale, 'NonLocal use_scale')
        sub_sample = flag(sub_sample, 'NonLocal sub_sample')
        check_norm_cfg(norm_cfg, 'NonLocal')
        mode = any_case_choice(mode, MODES, 'NonLocal mode')
        try:
            super().__init__(in_channels, sub_sample=sub_sample, reduction=int(reduction),
                             use_scale=use_scale, norm_cfg=norm_cfg, mode=mode, **kwargs)
        except (ValueError, AssertionError) as error:  # a norm built for no such channels
            raise norm_refusal('NonLocal', 'norm_cfg', norm_cfg, in_channels, 'W_z conv',
                               str(error)) from None
        check_norm_takes_maps(self.conv_out.norm if self.conv_out.with_norm else None,
                              in_channels, 'NonLocal', 'norm_cfg', norm_cfg, 'W_z conv')

    def forward(self, x: Tensor) -> Tensor:
        """Refine ``x`` (B, C, H, W); returns a tensor of the same shape."""
        check_feature_map(x, self.in_channels, 'NonLocal', self)
        if self.sub_sample and min(x.shape[-2:]) < 2:
            height, width = plain_shape(x, -2)
            raise ConfigError(f'NonLocal with sub_sample=True max-pools φ and g by 2×2, which '
                              f'leaves nothing of a {height}×{width} map; build it with '
                              f'sub_sample=False for maps under 2×2')
        check_batch_norm_values(x, self, 'NonLocal')
        if x.shape[0] == 0:  # mmcv's reshapes to (B, C', -1) cannot infer -1 for no images
            return empty_batch_output(self, x)
        if self.mode == 'gaussian' and not x.is_contiguous():  # mmcv views x as (B, C, H·W)
            memory_format = (torch.channels_last if x.is_contiguous(
                memory_format=torch.channels_last) else torch.contiguous_format)
            return super().forward(x.contiguous()).contiguous(memory_format=memory_format)
        return super().forward(x)

    def concatenation(self, theta_x: Tensor, phi_x: Tensor) -> Tensor:
        """The concatenation pairwise function of mmcv's ``NonLocal2d``: (B, c', N, 1) and
        (B, c', 1, N) → (B, N, N), ReLU(w_fᵀ [θ_i, φ_j]) / N.

        Written again because mmcv divides the ReLU's output in place, which autograd
        refuses (the ReLU saved it for its backward): as mmcv's, the block could not train.
        """
        num_nodes = phi_x.size(3)
        pairs = torch.cat([theta_x.repeat(1, 1, 1, num_nodes),
                           phi_x.repeat(1, 1, theta_x.size(2), 1)], dim=1)
        weight = self.concat_project(pairs)
        return weight.view(weight.size(0), weight.size(2), weight.size(3)) / num_nodes
