"""Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018), the
registered ``SE`` module: the "SE [24]" row of the paper's Table 2.

Equations of Hu et al. (§3), for a (B, C, H, W) map u:
    squeeze    z_c = 1/(H·W) Σ_{i,j} u_c(i, j)                          (Eq. 2)
    excitation s = σ(W2 δ(W1 z)),  W1: C → C/r, W2: C/r → C, δ = ReLU     (Eq. 3)
    scale      x̃_c = s_c · u_c                                           (Eq. 4)
with r = 16 (their default). Like their released models, W1 and W2 carry biases.
"""
from mmpretrain.models.utils.se_layer import SELayer
from torch import Tensor

from rga_mm.registry import MODELS
from .helpers import ChannelAttention, checked_in_channels, reduced_width


@MODELS.register_module()
class SE(ChannelAttention, SELayer):
    """Squeeze-and-excitation channel attention; output = input scaled per channel.

    A thin subclass of mmpretrain's ``SELayer`` (global average pooling, then two 1×1
    ``ConvModule``s with ReLU and sigmoid), which computes Hu et al.'s Eq. 2-4. It exists
    to give that layer rga_mm's convention: ``in_channels`` first, a registry entry in
    ``rga_mm``, the clear input errors of the other attentions, and the paper's exact
    bottleneck width C // r (``SELayer`` rounds it to a multiple of 8 by default).

    Parameters: 2·C·(C/r) + C/r + C.

    Args:
        in_channels: C, a positive int.
        reduction: r, the reduction of the bottleneck (16 in Hu et al.), an int in [1, C].
    """

    _abbr_ = 'se'  # name stem when built by mmcv's build_plugin_layer

    def __init__(self, in_channels: int, reduction: int = 16,
                 init_cfg: dict | None = None) -> None:
        in_channels = checked_in_channels(in_channels, 'SE')
        squeeze_channels = reduced_width(in_channels, reduction, 'SE', 'reduction', 'channels',
                                         'in_channels')
        super().__init__(in_channels, squeeze_channels=squeeze_channels,
                         act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')),
                         init_cfg=init_cfg)
        self.in_channels = in_channels
        self.reduction = int(reduction)

    def channel_attention(self, x: Tensor) -> Tensor:
        """The excitation s: (B, C, H, W) → (B, C, 1, 1), values in (0, 1)."""
        self.check_input(x)
        return self.conv2(self.conv1(self.global_avgpool(x)))
