"""DenseNet and DenseNet-BC for CIFAR (Huang et al., CVPR 2017, §3-4), as in RGA §4.3.

A 3×3 stem conv (16 channels, or 2k for BC), three dense blocks at 32×32, 16×16 and 8×8
joined by transition layers (BN-ReLU-conv1×1-avgpool2), then BN-ReLU (the classifier's
global pooling is the neck's job). A dense layer is BN-ReLU-conv3×3(k); with
``bottleneck=True`` it is BN-ReLU-conv1×1(4k)-BN-ReLU-conv3×3(k). ``compression`` θ
scales the channels in every transition (BC: θ = 0.5). Depth L counts the convs and the
classifier: (L − 4)/3 layers per block plain, (L − 4)/6 with bottlenecks. RGA's Table 7 lists
a DenseNet-BC of depth 115 with 0.97 M parameters, which is not 6n + 4; its count matches 18
bottleneck layers per block (0.968 M with the CIFAR-100 head), so that config passes
``num_layers=(18, 18, 18)``.

Submodules are ``stem``, ``block1``, ``transition1``, ``block2``, ``transition2``,
``block3``, ``final_norm``. The paper's "after the first dense block (16×16×108)" for
DenseNet-BC-100 is the output of ``transition1``: 24 + 16·12 = 216 channels at 32×32,
compressed to 108 and pooled to 16×16.
"""
from collections.abc import Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import Tensor, nn

from rga_mm.registry import MODELS
from .init_cfg import as_init_cfg
from .out_indices import checked_out_indices

NUM_BLOCKS = 3


def _norm_act_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Pre-activation unit BN-ReLU-conv (DenseNet's composite function H)."""
    return nn.Sequential(
        build_norm_layer(dict(type='BN'), in_channels)[1], nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                  bias=False))


class DenseLayer(nn.Module):
    """Appends k new channels to its input: H(x) concatenated after x."""

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool) -> None:
        super().__init__()
        units = []
        if bottleneck:
            units.append(_norm_act_conv(in_channels, 4 * growth_rate, 1))
            in_channels = 4 * growth_rate
        units.append(_norm_act_conv(in_channels, growth_rate, 3))
        self.layers = nn.Sequential(*units)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.layers(x)], dim=1)


def layers_per_block(depth: int, bottleneck: bool) -> tuple[int, ...]:
    """Dense layers in each block for a depth L: (L − 4)/3, or (L − 4)/6 with bottlenecks."""
    convs_per_block = NUM_BLOCKS * (2 if bottleneck else 1)
    if depth < 4 + convs_per_block or (depth - 4) % convs_per_block:
        raise ValueError(f'depth {depth} is not {convs_per_block}n + 4: pass num_layers')
    return ((depth - 4) // convs_per_block, ) * NUM_BLOCKS


@MODELS.register_module()
class CifarDenseNet(BaseBackbone):
    """DenseNet(-BC) for 32×32 images.

    Args:
        depth: L (100, 115; BC 100). Ignored when ``num_layers`` is given.
        growth_rate: k.
        bottleneck: 1×1 bottleneck of 4k channels in every dense layer (the "B").
        compression: θ, fraction of channels kept by a transition (the "C": 0.5).
        num_layers: explicit dense layers per block, overriding ``depth``.
        out_indices: blocks (0..2; -1 the last) whose outputs are returned; the last block
            after BN-ReLU.
        init_cfg: mmengine initialisation, one config or a sequence of them (e.g.
            ``dict(type='Pretrained', checkpoint=...)``); default Kaiming for convs, ones
            for BN weights.
    """

    def __init__(self, depth: int, growth_rate: int = 12, bottleneck: bool = False,
                 compression: float = 1.0, num_layers: Sequence[int] | None = None,
                 out_indices: Sequence[int] = (2, ),
                 init_cfg: dict | Sequence[dict] | None = (
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer='_BatchNorm'))) -> None:
        super().__init__(init_cfg=as_init_cfg(init_cfg))
        self.num_layers = (tuple(num_layers) if num_layers
                           else layers_per_block(depth, bottleneck))
        self.out_indices = checked_out_indices(out_indices, len(self.num_layers), 'CifarDenseNet')
        channels = 2 * growth_rate if bottleneck else 16
        self.stem = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        self.out_channels = []
        for index, num in enumerate(self.num_layers):
            layers = [DenseLayer(channels + i * growth_rate, growth_rate, bottleneck)
                      for i in range(num)]
            self.add_module(f'block{index + 1}', nn.Sequential(*layers))
            channels += num * growth_rate
            if index < NUM_BLOCKS - 1:
                out = int(channels * compression)
                self.add_module(f'transition{index + 1}', nn.Sequential(
                    _norm_act_conv(channels, out, 1), nn.AvgPool2d(2)))
                channels = out
            self.out_channels.append(channels)
        self.final_norm = nn.Sequential(
            build_norm_layer(dict(type='BN'), channels)[1], nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for index in range(NUM_BLOCKS):
            x = getattr(self, f'block{index + 1}')(x)
            if index < NUM_BLOCKS - 1:
                x = getattr(self, f'transition{index + 1}')(x)
            else:
                x = self.final_norm(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)
