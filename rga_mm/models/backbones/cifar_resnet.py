"""The CIFAR ResNet of He et al. (CVPR 2016, §4.2), used by RGA's CIFAR experiments (§4.3).

Depth 6n + 2: a 3×3 conv with 16 channels, then three stages (``layer1``..``layer3``) of n
basic blocks with 16, 32 and 64 channels at 32×32, 16×16 and 8×8; ResNet-110 has n = 18,
ResNet-218 n = 36. Shortcuts are option A, as He et al. used on CIFAR: identity, and where
the shape changes a stride-2 subsample padded with zero channels, so no shortcut has
parameters (ResNet-110: 1.73 M). mmpretrain's ``ResNet_CIFAR`` is the ImageNet ResNet with a
3×3 stem (64..512 channels, 1×1-conv shortcuts), not this network, hence this file.
"""
from collections.abc import Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import Tensor, nn

from rga_mm.checks import is_int
from rga_mm.errors import ConfigError
from rga_mm.registry import MODELS
from .init_cfg import as_init_cfg
from .out_indices import checked_out_indices

STAGE_CHANNELS = (16, 32, 64)


def blocks_per_stage(depth: int) -> int:
    """Basic blocks n in each of the three stages for a depth 6n + 2 with n >= 1.

    Raises:
        ConfigError: ``depth`` is not an int of the form 6n + 2 with n >= 1; a depth below 8
            would otherwise build ResNet-8 (one block per stage) silently.
    """
    if not is_int(depth) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f'CifarResNet depth {depth!r} is not 6n + 2 with n >= 1: pass one '
                          f'of 8, 14, 20, 32, 44, 56, 110, ...')
    return (int(depth) - 2) // 6


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and pad the new channels with zeros."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class CifarBasicBlock(nn.Module):
    """conv3×3-BN-ReLU, conv3×3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        norm_cfg = dict(type='BN')
        self.conv1 = ConvModule(in_channels, out_channels, 3, stride, 1, bias=False,
                                norm_cfg=norm_cfg)
        self.conv2 = ConvModule(out_channels, out_channels, 3, 1, 1, bias=False,
                                norm_cfg=norm_cfg, act_cfg=None)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


@MODELS.register_module()
class CifarResNet(BaseBackbone):
    """ResNet-(6n+2) for 32×32 images (He et al. 2016, CIFAR-10 experiments).

    Args:
        depth: 6n + 2 with n >= 1 (8, 20, 110, 218, ...); others raise ``ConfigError``.
        out_indices: stages (0..2; -1 the last) whose outputs are returned, as a tuple.
        init_cfg: mmengine initialisation, one config or a sequence of them (e.g.
            ``dict(type='Pretrained', checkpoint=...)``); default Kaiming for convs,
            ones/zeros for BN.

    Submodules ``stem``, ``layer1``, ``layer2``, ``layer3``: RGA-SC after ``layer1`` (a
    16×32×32 map) is ``StageAttentionBackbone(attentions=dict(layer1=...))``.
    """

    def __init__(self, depth: int, out_indices: Sequence[int] = (2, ),
                 init_cfg: dict | Sequence[dict] | None = (
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer='_BatchNorm'))) -> None:
        super().__init__(init_cfg=as_init_cfg(init_cfg))
        num_blocks = blocks_per_stage(depth)
        self.depth = depth
        self.out_indices = checked_out_indices(out_indices, len(STAGE_CHANNELS), 'CifarResNet')
        self.stem = ConvModule(3, STAGE_CHANNELS[0], 3, 1, 1, bias=False,
                               norm_cfg=dict(type='BN'))
        in_channels = STAGE_CHANNELS[0]
        for index, channels in enumerate(STAGE_CHANNELS):
            first_stride = 1 if index == 0 else 2
            blocks = [CifarBasicBlock(in_channels, channels, first_stride)]
            blocks += [CifarBasicBlock(channels, channels) for _ in range(num_blocks - 1)]
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            in_channels = channels

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for index in range(len(STAGE_CHANNELS)):
            x = getattr(self, f'layer{index + 1}')(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)
