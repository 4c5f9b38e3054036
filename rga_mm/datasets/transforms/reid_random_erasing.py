"""Random erasing as the official RGA training applies it (Zhong et al., AAAI 2020)."""
import math
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from rga_mm.errors import ConfigError
from rga_mm.registry import TRANSFORMS

# ImageNet mean in the BGR order in which mmcv loads images
IMAGENET_MEAN_BGR = (103.53, 116.28, 123.675)


@TRANSFORMS.register_module()
class ReIDRandomErasing(BaseTransform):
    """Erase a random rectangle with probability ``prob`` (paper §4.1.1).

    Up to ``max_attempts`` times, an area (``area_range`` × image area) and an aspect ratio
    h / w are drawn uniformly, from ``area_range`` and (``min_aspect``, 1 / ``min_aspect``);
    the first rectangle strictly smaller than the image is placed uniformly and filled; if
    none fits, the image is unchanged.

    The official code fills with 0 *after* ImageNet normalisation. Here normalisation comes
    later, in the model's data preprocessor ((x - mean) / std, after BGR → RGB), so filling
    with the ImageNet mean in pixel space (BGR order, the default ``fill``) gives exactly
    0 there. The image is returned as float32, so that the fill stays exact.

    Written here rather than taken from mmpretrain because mmpretrain's ``RandomErasing``
    casts the fill colour to uint8 (123.675 → 123, i.e. -0.012 after normalisation, not 0)
    and draws the aspect ratio log-uniformly in a single clipped attempt, a different
    distribution from the official one.

    Required keys: ``img`` (H, W, C). Modified keys: ``img`` (float32).

    Args:
        prob: probability of erasing.
        area_range: (min, max) erased area as a share of the image area.
        min_aspect: the aspect ratio is drawn from (min_aspect, 1 / min_aspect).
        fill: value per channel written into the rectangle.
        max_attempts: how many rectangles to draw before giving up.
    """

    def __init__(self,
                 prob: float = 0.5,
                 area_range: tuple[float, float] = (0.02, 0.4),
                 min_aspect: float = 0.3,
                 fill: Sequence[float] = IMAGENET_MEAN_BGR,
                 max_attempts: int = 100) -> None:
        if not 0 <= prob <= 1 or not 0 < area_range[0] <= area_range[1] <= 1:
            raise ConfigError(f'need 0 <= prob <= 1 and 0 < area_range[0] <= area_range[1] '
                              f'<= 1, got prob={prob}, area_range={area_range}')
        if not 0 < min_aspect <= 1:
            raise ConfigError(f'min_aspect must be in (0, 1], got {min_aspect}')
        self.prob = prob
        self.area_range = tuple(area_range)
        self.aspect_range = (min_aspect, 1 / min_aspect)
        self.fill = np.asarray(fill, np.float32)
        self.max_attempts = max_attempts

    @cache_randomness
    def rectangle(self, height: int, width: int) -> tuple[int, int, int, int] | None:
        """(top, left, h, w) of the rectangle to erase, or None."""
        if np.random.rand() >= self.prob:
            return None
        for _ in range(self.max_attempts):
            area = np.random.uniform(*self.area_range) * height * width
            aspect = np.random.uniform(*self.aspect_range)
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h < height and w < width:
                return (np.random.randint(0, height - h + 1),
                        np.random.randint(0, width - w + 1), h, w)
        return None

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32, copy=False)
        rect = self.rectangle(*img.shape[:2])
        if rect is not None:
            top, left, h, w = rect
            img[top:top + h, left:left + w] = self.fill
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'area_range={self.area_range}, aspect_range={self.aspect_range}, '
                f'fill={self.fill.tolist()}, max_attempts={self.max_attempts})')
