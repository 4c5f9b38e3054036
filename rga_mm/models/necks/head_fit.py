"""Whether a segmentor's heads take what its RGA neck gives them.

RGANeck doubles the channels of the map it attends (paper §4.2), so a head reading that map
must take 2·C; a head left at the backbone's C fails at the first forward with a
convolution's shape error inside mmseg. A module does not know the segmentor it sits in, so
this check runs on the built segmentor (the tools and :func:`rga_mm.apis.init_model` call
it), not inside the neck.
"""
from collections.abc import Sequence

from torch import nn

from rga_mm.checks import is_int
from rga_mm.errors import ConfigError
from .rga_neck import RGANeck

HEAD_NAMES = ('decode_head', 'auxiliary_head')


def check_heads_fit_neck(segmentor: nn.Module) -> None:
    """Raise a ConfigError unless the RGANeck's ``in_index`` names one of the backbone's maps
    (where the backbone's ``out_indices`` tells how many it returns), its ``in_channels``
    are that map's (where the backbone is a ResNet, :func:`_map_channels`), and every head of
    ``segmentor`` (``decode_head``, ``auxiliary_head``, either a ModuleList of heads) that
    reads the map its RGANeck attends takes that map's 2·C channels. A head reading several
    maps (a list ``in_index`` with a list ``in_channels``, as UPerHead's) is checked at the
    position of that map, and DeepLabV3+'s head (``DepthwiseSeparableASPPHead``) also at the
    map 0 its c1 branch reads (``c1_in_channels``). A head reading another map must take
    that map's own channels, where the backbone is a ResNet (a head left doubled after the
    neck moved to another map). For another backbone, whose map the neck's ``in_channels``
    may miss, the sentence for a head reading the attended map offers both fixes; its heads
    reading other maps, and heads concatenating several maps into one ``in_channels``, are
    left to mmseg.
    """
    neck = getattr(segmentor, 'neck', None)
    if not isinstance(neck, RGANeck):
        return
    backbone = getattr(segmentor, 'backbone', None)
    num_maps = _num_maps(backbone)
    if num_maps:
        neck.check_index(num_maps)
    attended = _map_channels(backbone, neck.in_index)
    if attended is not None and attended != neck.in_channels:
        raise ConfigError(
            f'model.neck.in_channels={neck.in_channels} but the backbone map it attends '
            f'(in_index={neck.in_index}) has {attended} channels: set '
            f'model.neck.in_channels={attended}, and the heads that read that map '
            f'in_channels={2 * attended}')
    for key, head in _heads(segmentor):
        for channels_key, channels, where, index in _maps_read(key, head):
            other_fix = ''
            if _same_map(index, neck.in_index, num_maps):
                expected = 2 * neck.in_channels
                what = (f'is the one RGANeck attends and concatenates with its attention '
                        f'(2 × model.neck.in_channels={neck.in_channels})')
                if attended is None and channels % 2 == 0:  # the neck's C is unchecked
                    other_fix = (f', or, if that backbone map has {channels // 2} channels, '
                                 f'model.neck.in_channels={channels // 2}')
            else:
                expected = _map_channels(backbone, index)
                what = (f'is a backbone map of {expected} channels, which RGANeck '
                        f'(in_index={neck.in_index}) passes through unchanged')
            if expected is None or channels == expected:
                continue
            raise ConfigError(f'{channels_key}={channels} but the map it reads ({where}) '
                              f'{what}: set {channels_key}={expected}{other_fix}')


def _maps_read(key: str, head: nn.Module) -> list[tuple[str, int, str, int]]:
    """(channels key, channels, where it reads, map index) for each map ``head`` reads
    with its own channel count: one for an int ``in_index``, one per position for list
    ``in_index`` and ``in_channels`` (``model.decode_head.in_channels[3]``), none otherwise;
    plus, for DeepLabV3+'s head, the map 0 that its c1 branch reads whatever its
    ``in_index`` (``model.decode_head.c1_in_channels``)."""
    return _in_index_maps(key, head) + _c1_map(key, head)


def _in_index_maps(key: str, head: nn.Module) -> list[tuple[str, int, str, int]]:
    """The maps ``head`` reads through ``in_index`` (see :func:`_maps_read`)."""
    in_index, channels = getattr(head, 'in_index', None), getattr(head, 'in_channels', None)
    if isinstance(in_index, int) and isinstance(channels, int):
        return [(f'{key}.in_channels', channels, f'in_index={in_index}', in_index)]
    if not (isinstance(in_index, (list, tuple)) and isinstance(channels, (list, tuple))
            and len(in_index) == len(channels)):
        return []
    return [(f'{key}.in_channels[{position}]', width, f'in_index[{position}]={index}', index)
            for position, (index, width) in enumerate(zip(in_index, channels))
            if isinstance(index, int) and isinstance(width, int)]


def _c1_map(key: str, head: nn.Module) -> list[tuple[str, int, str, int]]:
    """The map 0 of the backbone's tuple that mmseg's ``DepthwiseSeparableASPPHead`` feeds
    to its ``c1_bottleneck`` (a ConvModule of ``c1_in_channels`` inputs; None when
    ``c1_in_channels=0``), or nothing for other heads."""
    conv = getattr(getattr(head, 'c1_bottleneck', None), 'conv', None)
    channels = getattr(conv, 'in_channels', None)
    if not is_int(channels):
        return []
    return [(f'{key}.c1_in_channels', int(channels), 'map 0, through its c1 branch', 0)]


def _heads(segmentor: nn.Module) -> list[tuple[str, nn.Module]]:
    """(config key, head) for each head of ``segmentor``."""
    heads = []
    for name in HEAD_NAMES:
        head = getattr(segmentor, name, None)
        if isinstance(head, nn.ModuleList):
            heads += [(f'model.{name}[{position}]', item) for position, item in enumerate(head)]
        elif isinstance(head, nn.Module):
            heads.append((f'model.{name}', head))
    return heads


def _map_channels(backbone: nn.Module | None, index: int) -> int | None:
    """The channels of the backbone map at ``index`` of its outputs, where the backbone is a
    ResNet of mmseg or mmpretrain (alone or wrapped by StageAttentionBackbone, which keeps
    them): stage i gives expansion · base_channels · 2^i channels. None for other backbones
    (the neck's first forward checks those) and for an index outside ``out_indices``."""
    resnet = getattr(backbone, 'backbone', backbone)  # StageAttentionBackbone wraps one
    indices = getattr(resnet, 'out_indices', None)
    base = getattr(resnet, 'base_channels', None)
    expansion = getattr(resnet, 'expansion', None) or getattr(
        getattr(resnet, 'block', None), 'expansion', None)
    if (not isinstance(indices, Sequence) or not is_int(base) or not is_int(expansion)
            or not -len(indices) <= index < len(indices)):
        return None
    return expansion * base * 2 ** indices[index]


def _num_maps(backbone: nn.Module | None) -> int:
    """How many maps ``backbone`` returns by its ``out_indices`` (a sequence, or one int);
    0 when it does not say."""
    indices = getattr(backbone, 'out_indices', ())
    if is_int(indices):
        return 1
    return len(indices) if isinstance(indices, Sequence) else 0


def _same_map(index: int, other: int, num_maps: int) -> bool:
    """Whether two indices into the backbone's ``num_maps`` maps (0 when unknown: then only
    equal indices count) name the same map."""
    if num_maps and -num_maps <= min(index, other) and max(index, other) < num_maps:
        return index % num_maps == other % num_maps
    return index == other
