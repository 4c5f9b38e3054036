"""Attention after named stages of any backbone: the one insertion mechanism of rga_mm.

The paper puts RGA after whole residual stages (re-ID: after ``layer1``..``layer4`` of
ResNet-50; CIFAR: after the first stage or dense block). mmcv's ``plugins`` only reach
positions *inside* a bottleneck, so this wrapper adds what no OpenMMLab component offers:
it builds any backbone from the registries and attaches an attention module to the output of
each named submodule with a forward hook. The backbone's own parameter names stay untouched
(ImageNet checkpoints load through its ``init_cfg`` as usual) and the attentions live under
``attentions.<stage name>``.

Example::

    backbone=dict(
        type='rga_mm.StageAttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1)),
        attentions=dict(
            layer1=dict(type='rga_mm.RGA', in_channels=256, spatial_size=(64, 32)),
            layer4=dict(type='rga_mm.RGA', in_channels=2048, spatial_size=(16, 8))))
"""
from functools import partial
from typing import Any

from mmengine.model import BaseModule
from torch import nn

from rga_mm.registry import MODELS


def _attend_output(attention: nn.Module, stage: nn.Module, inputs: Any, output: Any) -> Any:
    """Forward hook: replace a stage's output (a tensor) by its attended version."""
    return attention(output)


@MODELS.register_module()
class StageAttentionBackbone(BaseModule):
    """A backbone whose named stages are each followed by an attention module.

    Args:
        backbone: config of any registered backbone (e.g. ``mmpretrain.ResNet``,
            ``mmseg.ResNetV1c``).
        attentions: stage name → attention config. A stage name is a dotted submodule
            path of the backbone (``'layer1'``, ``'stages.0'``); its output must be a
            (B, C, H, W) tensor. The module is ``attentions.<stage name>`` with dots as
            underscores (``attentions.stages_0``), so two names that differ only there
            are refused.
    """

    def __init__(self, backbone: dict, attentions: dict[str, dict],
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.backbone = MODELS.build(backbone)
        stages = dict(self.backbone.named_modules())
        unknown = sorted(set(attentions) - set(stages))
        if unknown:
            top_level = [name for name, _ in self.backbone.named_children()]
            raise KeyError(f'{type(self.backbone).__name__} has no stage named {unknown}; '
                           f'its top-level submodules are {top_level}')
        keys = [name.replace('.', '_') for name in attentions]
        if len(set(keys)) < len(keys):
            raise KeyError(f'stage names {sorted(attentions)} give the same attention module '
                           f'name once dots become underscores; attend each stage once')
        self.attentions = nn.ModuleDict(
            {key: MODELS.build(cfg) for key, cfg in zip(keys, attentions.values())})
        for name, key in zip(attentions, keys):
            stages[name].register_forward_hook(partial(_attend_output, self.attentions[key]))

    def forward(self, *args, **kwargs) -> Any:
        """Run the backbone; every configured stage's output passes through its attention."""
        return self.backbone(*args, **kwargs)
