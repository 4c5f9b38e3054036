"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018): the "CBAM-C",
"CBAM-S" and "CBAM-CS" rows of the paper's Table 2.

Equations of Woo et al. (§3), for a (B, C, H, W) map F:
    channel  M_c(F) = σ(MLP(AvgPool(F)) + MLP(MaxPool(F))),                   (Eq. 2)
             MLP = W1 δ(W0 ·), W0: C → C/r, W1: C/r → C, δ = ReLU, shared, r = 16
    spatial  M_s(F) = σ(f^{7×7}([AvgPool_c(F); MaxPool_c(F)]))                (Eq. 3)
             (mean and max over the channels, concatenated in that order, one 7×7 conv)
    CBAM     F' = M_c(F) ⊗ F,  F'' = M_s(F') ⊗ F'  (channel first, their best)  (Eq. 1)

The MLP carries biases as in their released code. Eq. 3 is a bare convolution; their code
adds a BatchNorm after it (conv without bias); ``norm_cfg=dict(type='BN')`` gives that.
CBAM composes the two gates with ``helpers.SpatialChannelAttention``, as FC-S/C does.
"""
import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from rga_mm.checks import positive_int
from rga_mm.errors import ConfigError
from rga_mm.registry import MODELS
from .helpers import (
    ChannelAttention,
    SpatialAttention,
    SpatialChannelAttention,
    check_norm_cfg,
    checked_in_channels,
    normed_conv,
    reduced_width,
)


def odd_kernel_size(kernel_size: object, owner: str) -> int:
    """``kernel_size`` as a plain int, or one sentence naming ``owner`` unless it is an odd
    positive int: the spatial conv pads kernel_size // 2 on each side, which keeps the map
    size (the gate scales the map it reads) only for an odd kernel."""
    kernel_size = positive_int(kernel_size, f'{owner} kernel_size',
                               'the side of its square convolution, odd')
    if kernel_size % 2 == 0:
        raise ConfigError(f'{owner} needs an odd kernel_size to keep the map size (its conv '
                          f'pads kernel_size // 2 on each side), got {kernel_size}; use '
                          f'{kernel_size - 1} or {kernel_size + 1}')
    return kernel_size


@MODELS.register_module()
class CBAMChannel(ChannelAttention):
    """CBAM channel attention (Woo et al. Eq. 2); output = input scaled per channel.

    Parameters: 2·C·(C/r) + C/r + C.

    Args:
        in_channels: C, a positive int.
        reduction: r, the reduction of the shared MLP (16 in Woo et al.), an int in [1, C].
        owner: the name its errors give it; CBAM passes its own (default: the class's).
    """

    _abbr_ = 'cbam_channel'

    def __init__(self, in_channels: int, reduction: int = 16,
                 init_cfg: dict | None = None, *, owner: str | None = None) -> None:
        super().__init__(init_cfg)
        owner = owner or type(self).__name__
        in_channels = checked_in_channels(in_channels, owner)
        hidden = reduced_width(in_channels, reduction, owner, 'reduction', 'channels',
                               'in_channels')
        self.in_channels = in_channels
        self.shared_mlp = nn.Sequential(
            ConvModule(in_channels, hidden, 1, act_cfg=dict(type='ReLU')),
            ConvModule(hidden, in_channels, 1, act_cfg=None))

    def channel_attention(self, x: Tensor) -> Tensor:
        """M_c: (B, C, H, W) → (B, C, 1, 1), values in (0, 1)."""
        self.check_input(x)
        pooled_avg = x.mean(dim=(2, 3), keepdim=True)
        pooled_max = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.shared_mlp(pooled_avg) + self.shared_mlp(pooled_max))


@MODELS.register_module()
class CBAMSpatial(SpatialAttention):
    """CBAM spatial attention (Woo et al. Eq. 3); output = input scaled per position.

    Parameters: 2·k² + 1 (paper: conv with bias), or 2·k² + 2 with ``norm_cfg`` BN (code).

    Args:
        in_channels: C, a positive int (only checked: the gate reads channel-pooled maps).
        kernel_size: k, the size of the convolution (7 in Woo et al.), an odd positive int.
        norm_cfg: None (paper, Eq. 3) or a norm after the conv (their released code).
        owner: the name its errors give it; CBAM passes its own (default: the class's).
    """

    _abbr_ = 'cbam_spatial'

    def __init__(self, in_channels: int, kernel_size: int = 7,
                 norm_cfg: dict | None = None, init_cfg: dict | None = None, *,
                 owner: str | None = None, norm_setting: str = 'norm_cfg') -> None:
        super().__init__(init_cfg)
        owner = owner or type(self).__name__
        self.in_channels = checked_in_channels(in_channels, owner)
        kernel_size = odd_kernel_size(kernel_size, owner)
        check_norm_cfg(norm_cfg, owner, norm_setting)
        self.conv = normed_conv(owner, norm_setting, norm_cfg, 'spatial conv', 2, 1,
                                kernel_size, padding=kernel_size // 2, act_cfg=None)

    def spatial_attention(self, x: Tensor) -> Tensor:
        """M_s: (B, C, H, W) → (B, 1, H, W), values in (0, 1)."""
        self.check_input(x)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


@MODELS.register_module()
class CBAM(SpatialChannelAttention):
    """CBAM: channel attention, then spatial attention (Woo et al. Eq. 1).

    Args:
        in_channels: C.
        reduction: r of the channel MLP (16).
        kernel_size: k of the spatial conv (7).
        mode: ``'CS'`` (Woo et al.'s, default), ``'SC'`` or ``'S//C'`` (their ablation).
        spatial_norm_cfg: norm after the spatial conv (None as in Eq. 3).
    """

    _abbr_ = 'cbam'

    def __init__(self, in_channels: int, reduction: int = 16, kernel_size: int = 7,
                 mode: str = 'CS', spatial_norm_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        owner = type(self).__name__
        in_channels = checked_in_channels(in_channels, owner)
        check_norm_cfg(spatial_norm_cfg, owner, 'spatial_norm_cfg')  # CBAMSpatial's norm_cfg
        super().__init__(in_channels, CBAMChannel(in_channels, reduction, owner=owner),
                         CBAMSpatial(in_channels, kernel_size, spatial_norm_cfg, owner=owner,
                                     norm_setting='spatial_norm_cfg'),
                         mode, init_cfg)
