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
from typing import Any

import torch
from mmcv.cnn import NonLocal2d
from torch import Tensor

from rga_mm.checks import flag, positive_int
from rga_mm.errors import ConfigError
from rga_mm.registry import MODELS
from .helpers import (
    check_batch_norm_values,
    check_feature_map,
    checked_in_channels,
    empty_batch_output,
    plain_shape,
)


@MODELS.register_module()
class NonLocal(NonLocal2d):
    """Non-local block; output = input + W_z(y), the input's shape.

    A subclass of mmcv's ``NonLocal2d`` that only sets Wang et al.'s defaults (BN after
    W_z, zero-initialised) and gives it rga_mm's convention: a registry entry in
    ``rga_mm`` and the clear input errors of the other attentions. mmcv registers
    ``NonLocal2d`` in mmengine's root registry with ``norm_cfg=None`` (no BN, W_z
    zero-initialised instead).

    Parameters (embedded Gaussian, c' = max(1, C // reduction), as mmcv's):
    3·(C·c' + c') + c'·C + 2·C.

    Args:
        in_channels: C, a positive int.
        reduction: C / c', the bottleneck of θ, φ, g (2 in Wang et al.), a positive int.
        mode: pairwise function, ``'embedded_gaussian'`` (Wang et al.'s default),
            ``'gaussian'``, ``'dot_product'`` or ``'concatenation'``.
        use_scale: divide θᵀφ by √c' (embedded Gaussian only; mmcv's default).
        sub_sample: max-pool φ and g by 2×2 (Wang et al.'s trick for large maps).
        norm_cfg: norm after W_z (BN in Wang et al.), its scale initialised to zero.
    """

    _abbr_ = 'non_local'

    def __init__(self, in_channels: int, reduction: int = 2,
                 mode: str = 'embedded_gaussian', use_scale: bool = True,
                 sub_sample: bool = False, norm_cfg: dict | None = dict(type='BN'),
                 **kwargs: Any) -> None:
        in_channels = checked_in_channels(in_channels, 'NonLocal')
        reduction = positive_int(reduction, 'NonLocal reduction',
                                 "C / c', the bottleneck ratio of θ, φ and g; 1 for none")
        use_scale = flag(use_scale, 'NonLocal use_scale')
        sub_sample = flag(sub_sample, 'NonLocal sub_sample')
        super().__init__(in_channels, sub_sample=sub_sample, reduction=reduction,
                         use_scale=use_scale, norm_cfg=norm_cfg, mode=mode, **kwargs)

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
        if self.mode == 'gaussian':  # mmcv views x itself as (B, C, H·W)
            x = x.contiguous()
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
