"""The input check shared by every attention module of rga_mm."""
from torch import Tensor


def check_feature_map(x: Tensor, in_channels: int, owner: str) -> None:
    """Raise one clear sentence unless ``x`` is a (B, ``in_channels``, H, W) tensor."""
    if x.dim() != 4:
        raise ValueError(f'{owner} expects a 4-D (B, C, H, W) feature map, got a '
                         f'{x.dim()}-D tensor of shape {tuple(x.shape)}')
    if x.shape[1] != in_channels:
        raise ValueError(f'{owner} was built for {in_channels} channels but the feature '
                         f'map has {x.shape[1]} (shape {tuple(x.shape)})')
