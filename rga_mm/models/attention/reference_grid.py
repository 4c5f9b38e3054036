"""Pooling a feature map onto RGA's reference grid with RoIAlign (paper §4.2, Discussion).

A module built for an h × w map reads relations against h·w reference nodes. For a map of
another size the embeddings are pooled to (h, w) by mmcv's RoIAlign over the whole map
(``aligned=True``, adaptive sampling), so that every 1×1 convolution over relations or
positions sees exactly the length it was built for.
"""
import torch
from mmcv.ops import roi_align
from torch import Tensor


def pool_to_grid(features: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """RoIAlign ``features`` (B, C, H, W) over the whole map to (B, C, h, w).

    With (H, W) == (h, w) this is the identity (each output bin samples its own pixel
    centre).
    """
    batch, _, height, width = features.shape
    boxes = features.new_tensor([[0.0, 0.0, float(width), float(height)]]).repeat(batch, 1)
    indices = torch.arange(batch, dtype=features.dtype, device=features.device)[:, None]
    return roi_align(features, torch.cat((indices, boxes), dim=1), tuple(grid_size),
                     1.0, 0, 'avg', True)
