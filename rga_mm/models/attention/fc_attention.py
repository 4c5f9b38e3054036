"""Fully-connected attention (Liu et al., "Spatial and Temporal Mutual Promotion for
Video-based Person Re-identification", AAAI 2019), as re-implemented for the "FC-S",
"FC-C" and "FC-S/C" rows of the paper's Table 2.

The RGA paper describes them (§2 and §4.1.2): the features are first embedded by a 1×1
convolution; FC-S then averages the embedding over its channels and applies two fully
connected layers over the h·w positions ("each spatial position corresponds to a FC node
with unshared parameters"); FC-C averages the embedding over the positions and applies a
fully connected layer over the channels. For a (B, C, h, w) map x with N = h·w:
    embedding  e = δ(BN(W_e x)),  W_e: 1×1 conv C → C/r_e, δ = ReLU
    FC-S       a_s = σ(W_2 δ(W_1 mean_c(e) + b_1) + b_2),  W_1: N → N/r_h, W_2: N/r_h → N
    FC-C       a_c = σ(W_3 mean_{h,w}(e) + b_3),           W_3: C/r_e → C
    FC-S/C     out = x · a_s · a_c  (both gates from x, in parallel)
Our choices where the papers leave them open: r_e = 8 and r_h = 8 (``reduction`` and
``hidden_reduction``), RGA's s1 and s2, so that the comparison runs at RGA's reductions;
FC-S/C gates in parallel (``'S//C'``): the refining unit of Liu et al. computes its spatial
and channel gates from the same input, and the RGA paper writes "S/C" rather than a
sequential "SC"/"CS". ``mode`` selects another order. The fully connected layers are 1×1
``ConvModule``s on (B, N, 1, 1) and (B, C/r_e, 1, 1) tensors (the same weights and biases
as ``nn.Linear``).
"""
import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from rga_mm.registry import MODELS
from .helpers import (
    ChannelAttention,
    SpatialAttention,
    SpatialChannelAttention,
    built_map_size,
    check_feature_map,
    check_map_size,
    check_norm_cfg,
    checked_in_channels,
    normed_conv,
    reduced_width,
)


def embedding(in_channels: int, reduction: int, norm_cfg: dict, owner: str) -> ConvModule:
    """The 1×1 conv → BN → ReLU embedding C → C // reduction that precedes FC-S and FC-C;
    errors name ``owner``."""
    width = reduced_width(in_channels, reduction, owner, 'reduction', 'channels', 'in_channels')
    check_norm_cfg(norm_cfg, owner)
    return normed_conv(owner, 'norm_cfg', norm_cfg, 'embedding conv', in_channels, width, 1,
                       act_cfg=dict(type='ReLU'))


@MODELS.register_module()
class FCSpatial(SpatialAttention):
    """FC-S: fully connected spatial attention over the h·w positions of a fixed-size map.

    Parameters (C' = C/r_e, N = h·w, N' = N/r_h): C·C' + 2·C' + 2·N·N' + N' + N.

    Args:
        in_channels: C, a positive int.
        spatial_size: (h, w), the map size the module is built for; one int for a square
            map.
        reduction: r_e, reduction of the 1×1 embedding (8), an int in [1, C].
        hidden_reduction: r_h, reduction inside the two fully connected layers (8), an int
            in [1, h·w].
        norm_cfg: normalisation after the embedding conv.
        owner: the name its errors give it; FCSpatialChannel passes its own (default: the
            class's).
    """

    _abbr_ = 'fc_spatial'

    def __init__(self, in_channels: int, spatial_size: int | tuple[int, int],
                 reduction: int = 8, hidden_reduction: int = 8,
                 norm_cfg: dict = dict(type='BN'), init_cfg: dict | None = None, *,
                 owner: str | None = None) -> None:
        super().__init__(init_cfg)
        self.owner = owner or type(self).__name__
        self.in_channels = checked_in_channels(in_channels, self.owner)
        self.spatial_size = built_map_size(spatial_size, self.owner)
        height, width = self.spatial_size
        num_positions = height * width
        hidden = reduced_width(num_positions, hidden_reduction, self.owner, 'hidden_reduction',
                               'positions', f'spatial_size {height}×{width}')
        self.hidden_reduction = int(hidden_reduction)
        self.embedding = embedding(self.in_channels, reduction, norm_cfg, self.owner)
        self.position_fc = nn.Sequential(
            ConvModule(num_positions, hidden, 1, act_cfg=dict(type='ReLU')),
            ConvModule(hidden, num_positions, 1, act_cfg=None))

    def check_input(self, x: Tensor) -> None:
        """Raise one clear sentence unless ``x`` is a (B, C, h, w) map of the built size
        (naming both sizes when they differ)."""
        check_feature_map(x, self.in_channels, self.owner, self)
        check_map_size(x, self.spatial_size, self.owner, ': its fully connected layers read '
                       'exactly {built} positions; build it with {rebuild}',
                       ('hidden_reduction', self.hidden_reduction))

    def spatial_attention(self, x: Tensor) -> Tensor:
        """a_s: (B, C, h, w) → (B, 1, h, w), values in (0, 1)."""
        self.check_input(x)
        pooled = self.embedding(x).mean(dim=1)  # (B, h, w): cross-channel average pooling
        logits = self.position_fc(pooled.flatten(1)[..., None, None])  # (B, N, 1, 1)
        return torch.sigmoid(logits).view(x.shape[0], 1, *self.spatial_size)


@MODELS.register_module()
class FCChannel(ChannelAttention):
    """FC-C: one fully connected layer over the spatially pooled embedding → channel gate.

    Parameters (C' = C/r_e): C·C' + 2·C' + C'·C + C.

    Args:
        in_channels: C, a positive int.
        reduction: r_e, reduction of the 1×1 embedding (8), an int in [1, C].
        norm_cfg: normalisation after the embedding conv.
        owner: the name its errors give it; FCSpatialChannel passes its own (default: the
            class's).
    """

    _abbr_ = 'fc_channel'

    def __init__(self, in_channels: int, reduction: int = 8,
                 norm_cfg: dict = dict(type='BN'), init_cfg: dict | None = None, *,
                 owner: str | None = None) -> None:
        super().__init__(init_cfg)
        owner = owner or type(self).__name__
        self.in_channels = checked_in_channels(in_channels, owner)
        self.embedding = embedding(self.in_channels, reduction, norm_cfg, owner)
        self.channel_fc = ConvModule(self.embedding.conv.out_channels, self.in_channels, 1,
                                     act_cfg=None)

    def channel_attention(self, x: Tensor) -> Tensor:
        """a_c: (B, C, H, W) → (B, C, 1, 1), values in (0, 1)."""
        self.check_input(x)
        pooled = self.embedding(x).mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.channel_fc(pooled))


@MODELS.register_module()
class FCSpatialChannel(SpatialChannelAttention):
    """FC-S/C: FC-S and FC-C gates together (parallel by default, see module docstring).

    Args:
        in_channels: C.
        spatial_size: (h, w) of the map (for FC-S), or one int for a square map.
        reduction: r_e of both embeddings (8).
        hidden_reduction: r_h of FC-S (8).
        mode: ``'S//C'`` (default), ``'SC'`` or ``'CS'``.
        norm_cfg: normalisation after the embedding convs.
    """

    _abbr_ = 'fc_spatial_channel'

    def __init__(self, in_channels: int, spatial_size: int | tuple[int, int],
                 reduction: int = 8, hidden_reduction: int = 8, mode: str = 'S//C',
                 norm_cfg: dict = dict(type='BN'), init_cfg: dict | None = None) -> None:
        owner = type(self).__name__
        in_channels = checked_in_channels(in_channels, owner)
        super().__init__(
            in_channels, FCChannel(in_channels, reduction, norm_cfg, owner=owner),
            FCSpatial(in_channels, spatial_size, reduction, hidden_reduction, norm_cfg,
                      owner=owner),
            mode, init_cfg)
