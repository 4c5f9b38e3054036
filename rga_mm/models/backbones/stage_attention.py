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
from torch import Tensor, nn

from rga_mm.errors import ConfigError
from rga_mm.registry import MODELS


def _describe(output: Any) -> str:
    """What a stage returned, for an error message: a tensor's shape, else its type."""
    if isinstance(output, Tensor):
        return f'a {output.dim()}-D tensor of shape {tuple(output.shape)}'
    return f'a {type(output).__name__}'


def _check_stage_output(output: Any, backbone: str, stage: str) -> None:
    """Refuse a stage output that is not a (B, C, H, W) tensor, naming the stage.

    Raises:
        ConfigError: ``output`` is not a 4-D tensor (a tuple from a Swin stage, a (B, L, C)
            token sequence).
    """
    if not isinstance(output, Tensor) or output.dim() != 4:
        raise ConfigError(
            f"StageAttentionBackbone stage {stage!r} of {backbone} returns "
            f"{_describe(output)}, not a (B, C, H, W) tensor: move attentions[{stage!r}] to a "
            f"submodule that returns a feature map")


def _attend_output(attention: nn.Module, backbone: str, stage: str, module: nn.Module,
                   inputs: Any, output: Any) -> Tensor:
    """Forward hook: replace a stage's (B, C, H, W) output by its attended version.

    Raises:
        ConfigError: the stage's output is not a (B, C, H, W) tensor, or the attention
            refuses it (a wrong ``in_channels`` or map size); the message names the stage
            and the ``attentions`` key to fix.
    """
    _check_stage_output(output, backbone, stage)
    try:
        return attention(output)
    except ValueError as error:
        raise ConfigError(f'StageAttentionBackbone stage {stage!r} '
                          f'(attentions[{stage!r}]): {error}') from error


@MODELS.register_module()
class StageAttentionBackbone(BaseModule):
    """A backbone whose named stages are each followed by an attention module.

    Args:
        backbone: config of any registered backbone (e.g. ``mmpretrain.ResNet``,
            ``mmseg.ResNetV1c``).
        attentions: stage name → attention config. A stage name is a dotted submodule
            path of the backbone (``'layer1'``, ``'stages.0'``); its output must be a
            (B, C, H, W) tensor, else the first forward raises a ``ConfigError`` naming
            the stage, as does an attention that refuses the map (a wrong
            ``in_channels``). The module is ``attentions.<stage name>`` with dots as
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
            stages[name].register_forward_hook(partial(
                _attend_output, self.attentions[key], type(self.backbone).__name__, name))

    def forward(self, *args, **kwargs) -> Any:
        """Run the backbone; every configured stage's output passes through its attention."""
        return self.backbone(*args, **kwargs)
