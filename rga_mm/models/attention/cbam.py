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

:class:`SpatialChannelAttention` (two gates in the orders of RGA's modes) is shared with
the FC attention of ``fc_attention.py``.
"""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from rga_mm.registry import MODELS
from .relation_gate import reduced_width
from .input_checks import check_feature_map

GATE_ORDERS = ('CS', 'SC', 'S//C')


@MODELS.register_module()
class CBAMChannel(BaseModule):
    """CBAM channel attention (Woo et al. Eq. 2); output = input scaled per channel.

    Parameters: 2·C·(C/r) + C/r + C.

    Args:
        in_channels: C.
        ratio: r, the reduction of the shared MLP (16 in Woo et al.).
    """

    _abbr_ = 'cbam_channel'

    def __init__(self, in_channels: int, ratio: int = 16,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        hidden = reduced_width(in_channels, ratio, 'a channel count')
        self.in_channels = in_channels
        self.shared_mlp = nn.Sequential(
            ConvModule(in_channels, hidden, 1, act_cfg=dict(type='ReLU')),
            ConvModule(hidden, in_channels, 1, act_cfg=None))

    def channel_attention(self, x: Tensor) -> Tensor:
        """M_c: (B, C, H, W) → (B, C, 1, 1), values in (0, 1)."""
        pooled_avg = x.mean(dim=(2, 3), keepdim=True)
        pooled_max = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.shared_mlp(pooled_avg) + self.shared_mlp(pooled_max))

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape."""
        check_feature_map(x, self.in_channels, 'CBAMChannel')
        return x * self.channel_attention(x)


@MODELS.register_module()
class CBAMSpatial(BaseModule):
    """CBAM spatial attention (Woo et al. Eq. 3); output = input scaled per position.

    Parameters: 2·k² + 1 (paper: conv with bias), or 2·k² + 2 with ``norm_cfg`` BN (code).

    Args:
        in_channels: C (only checked: the gate reads channel-pooled maps).
        kernel_size: k, the size of the convolution (7 in Woo et al.).
        norm_cfg: None (paper, Eq. 3) or a norm after the conv (their released code).
    """

    _abbr_ = 'cbam_spatial'

    def __init__(self, in_channels: int, kernel_size: int = 7,
                 norm_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'CBAMSpatial needs an odd kernel_size to keep the map size, '
                             f'got {kernel_size}')
        self.in_channels = in_channels
        self.conv = ConvModule(2, 1, kernel_size, padding=kernel_size // 2,
                               norm_cfg=norm_cfg, act_cfg=None)

    def spatial_attention(self, x: Tensor) -> Tensor:
        """M_s: (B, C, H, W) → (B, 1, H, W), values in (0, 1)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape."""
        check_feature_map(x, self.in_channels, 'CBAMSpatial')
        return x * self.spatial_attention(x)


class SpatialChannelAttention(BaseModule):
    """A channel gate and a spatial gate applied in one of RGA's orders.

    ``'CS'``: x̂ = x·a_c(x), out = x̂·a_s(x̂); ``'SC'``: the reverse; ``'S//C'`` (parallel):
    out = x·a_s(x)·a_c(x). The gates are modules with ``channel_attention`` /
    ``spatial_attention`` methods, kept as ``channel_gate`` and ``spatial_gate``.
    """

    def __init__(self, in_channels: int, channel_gate: nn.Module, spatial_gate: nn.Module,
                 mode: str, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if mode not in GATE_ORDERS:
            raise ValueError(f'{type(self).__name__} mode must be one of {GATE_ORDERS}, '
                             f'got {mode!r}')
        self.in_channels = in_channels
        self.mode = mode
        self.channel_gate = channel_gate
        self.spatial_gate = spatial_gate

    def forward(self, x: Tensor) -> Tensor:
        """Attend ``x`` (B, C, H, W); returns a tensor of the same shape."""
        check_feature_map(x, self.in_channels, type(self).__name__)
        channel, spatial = self.channel_gate, self.spatial_gate
        if self.mode == 'CS':
            x = x * channel.channel_attention(x)
            return x * spatial.spatial_attention(x)
        if self.mode == 'SC':
            x = x * spatial.spatial_attention(x)
            return x * channel.channel_attention(x)
        return x * spatial.spatial_attention(x) * channel.channel_attention(x)


@MODELS.register_module()
class CBAM(SpatialChannelAttention):
    """CBAM: channel attention, then spatial attention (Woo et al. Eq. 1).

    Args:
        in_channels: C.
        ratio: r of the channel MLP (16).
        kernel_size: k of the spatial conv (7).
        mode: ``'CS'`` (Woo et al.'s, default), ``'SC'`` or ``'S//C'`` (their ablation).
        spatial_norm_cfg: norm after the spatial conv (None as in Eq. 3).
    """

    _abbr_ = 'cbam'

    def __init__(self, in_channels: int, ratio: int = 16, kernel_size: int = 7,
                 mode: str = 'CS', spatial_norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_channels, CBAMChannel(in_channels, ratio),
                         CBAMSpatial(in_channels, kernel_size, spatial_norm_cfg), mode,
                         init_cfg)
