"""RGA as a segmentation neck (paper §4.2): attend the last backbone map, then concatenate.

For Cityscapes the paper applies RGA-SC to the last map of a dilated ResNet-101 (stride 8)
and concatenates the attended map with its input before the PSP / ASPP / FCN head, so the
decode head reads 2·C channels. The neck is built for one ``spatial_size`` and, by default,
accepts maps of any other size through RGA's RoIAlign reference grid (paper §4.2): training
crops (769×769 → a 97×97 map) and whole-image testing (1024×2048 → 128×256) use one module.
"""
import difflib
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseModule
from torch import Tensor

from rga_mm.checks import is_int, positive_int
from rga_mm.errors import ConfigError, MapSizeError
from rga_mm.registry import MODELS
from ..attention import RGA
from ..attention.helpers import built_map_size, plain_shape

# s1 when the config does not set it, read from RGA so that the two never differ
RGA_REDUCTION = inspect.signature(RGA).parameters['reduction'].default


@MODELS.register_module()
class RGANeck(BaseModule):
    """Replace one backbone map x by cat([x, RGA(x)], dim=1); the other maps pass through.

    Args:
        in_channels: C, channels of the attended map; the head reading that map must take
            2·C (heads reading other maps are unchanged).
        spatial_size: (h, w), the reference grid RGA is built for (its parameter count grows
            with h·w: see ``configs/cityscapes``); one int for a square grid.
        in_index: which map of the backbone's tuple to attend, an int (default -1, the
            last).
        variable_size: accept maps of another size through the reference grid (default
            True; False makes any other size an error).
        **rga_options: the other arguments of :class:`rga_mm.models.attention.RGA`
            (``mode`` default ``'SC'``, ``reduction``, ``gate_reduction``,
            ``relation_path``, ``norm_cfg``, ...).
    """

    def __init__(self,
                 in_channels: int,
                 spatial_size: int | Sequence[int],
                 in_index: int = -1,
                 variable_size: bool = True,
                 init_cfg: dict | None = None,
                 **rga_options: Any) -> None:
        super().__init__(init_cfg)
        in_channels = positive_int(in_channels, 'RGANeck in_channels',
                                   'the channels of the attended backbone map')
        check_rga_options(rga_options)
        height, width = built_map_size(spatial_size, 'RGANeck')
        reduction = rga_options.get('reduction', RGA_REDUCTION)
        if is_int(reduction) and height * width < reduction:  # RGA names any other value
            raise ConfigError(
                f'RGANeck spatial_size={(height, width)} gives {height * width} reference '
                f'positions, fewer than reduction={reduction}: the relation embedding '
                f'(N → N/{reduction}) would have no channel; build a grid with h·w ≥ '
                f'{reduction}')
        if not is_int(in_index):
            raise ConfigError(f'RGANeck in_index must be an int (the position of the attended '
                              f'map in the backbone\'s outputs, -1 for the last), got '
                              f'{in_index!r}')
        self.in_channels = in_channels
        self.in_index = int(in_index)
        self.rga = RGA(in_channels, (height, width), variable_size=variable_size,
                       **{'mode': 'SC', **rga_options})

    @property
    def out_channels(self) -> int:
        """Channels of the replaced map: the ``in_channels`` of the head that reads map
        ``in_index`` (heads reading other maps keep theirs)."""
        return 2 * self.in_channels

    def check_index(self, num_maps: int) -> None:
        """Raise a ConfigError unless ``in_index`` names one of the backbone's ``num_maps``."""
        if num_maps == 0:
            raise ConfigError('RGANeck received no backbone map: the backbone returns an '
                              'empty tuple')
        if not -num_maps <= self.in_index < num_maps:
            raise ConfigError(
                f'RGANeck in_index={self.in_index} but the backbone returns {num_maps} '
                f'maps: set in_index to one of {-num_maps}..{num_maps - 1}')

    def check_input(self, inputs: Sequence[Tensor]) -> Tensor:
        """The map to attend, or one clear sentence saying why it cannot be attended."""
        if isinstance(inputs, Tensor):
            inputs = (inputs,)
        self.check_index(len(inputs))
        x = inputs[self.in_index]
        if x.dim() != 4:
            raise ConfigError(f'RGANeck expects (B, C, H, W) backbone maps, got shape '
                              f'{tuple(x.shape)} at in_index={self.in_index}')
        if x.shape[1] != self.in_channels:
            raise ConfigError(
                f'RGANeck in_channels={self.in_channels} does not match the backbone map at '
                f'in_index={self.in_index}, which has {x.shape[1]} channels: set the neck\'s '
                f'in_channels={x.shape[1]}; the neck doubles that map only, so the head '
                f'that reads map {self.in_index} must take in_channels={2 * x.shape[1]} and '
                f'the heads that read other maps keep their channels')
        if min(x.shape[-2:]) < 1:
            height, width = plain_shape(x, -2)
            raise ConfigError(
                f'RGANeck received a {height}×{width} map at in_index='
                f'{self.in_index}: the input image is too small for the backbone\'s '
                f'downsampling to leave at least 1×1 positions')
        if not self.rga.variable_size and tuple(x.shape[-2:]) != self.rga.spatial_size:
            height, width = plain_shape(x, -2)
            fix = (f'set model.neck.spatial_size=({height}, {width}) for this input size, or '
                   f'model.neck.variable_size=True to attend any size through its reference '
                   f'grid')
            if not self.training:  # whole test images after training crops: no one size
                fix += ('; a model trained on crops and tested on whole images needs '
                        'variable_size=True, as one spatial_size cannot fit both')
            raise MapSizeError(
                f'RGANeck was built for a {self.rga.spatial_size[0]}×'
                f'{self.rga.spatial_size[1]} map (model.neck.spatial_size) but the backbone '
                f'map at in_index={self.in_index} is {height}×{width}: {fix}')
        return x

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """Backbone maps → the same tuple with map ``in_index`` now (B, 2·C, H, W)."""
        x = self.check_input(inputs)
        outputs = list(inputs) if not isinstance(inputs, Tensor) else [inputs]
        outputs[self.in_index] = torch.cat([x, self.rga(x)], dim=1)
        return tuple(outputs)


def check_rga_options(rga_options: dict) -> None:
    """Raise a ConfigError naming the options RGANeck passes on to RGA that RGA does not take
    (a misspelt ``variable_size`` would otherwise be reported by ``RGA.__init__``), with the
    closest option for each."""
    known = [name for name in inspect.signature(RGA).parameters
             if name not in ('in_channels', 'spatial_size', 'variable_size', 'init_cfg')]
    unknown = sorted(set(rga_options) - set(known))
    if unknown:
        own = ['in_channels', 'spatial_size', 'in_index', 'variable_size', 'init_cfg']
        guesses = [difflib.get_close_matches(name, own + known, n=1) for name in unknown]
        hints = ''.join(f'; {name}: did you mean {guess[0]}?'
                        for name, guess in zip(unknown, guesses) if guess)
        raise ConfigError(f'RGANeck does not take {unknown}{hints} (it takes {own} and RGA\'s '
                          f'{known})')
