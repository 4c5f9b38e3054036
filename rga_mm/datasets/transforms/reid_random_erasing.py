"""Random erasing as the official RGA training applies it (Zhong et al., AAAI 2020)."""
import math
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from rga_mm.checks import is_number, positive_int
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

    Every argument is checked when the step is built, so that a value that would switch
    erasing off silently (``max_attempts=0``, ``area_range=(1.0, 1.0)``: a rectangle of the
    whole image is never drawn) or fail only at the first erased image, inside a DataLoader
    worker, is a :class:`~rga_mm.errors.ConfigError` naming it. Whether a rectangle fits a
    given image also depends on its size and the aspect range, which are known only then.

    Args:
        prob: probability of erasing, a number from 0 to 1.
        area_range: (min, max) erased area as a share of the image area,
            0 < min <= max <= 1 and min < 1.
        min_aspect: the aspect ratio is drawn from (min_aspect, 1 / min_aspect); in (0, 1].
        fill: value written into the rectangle: one number for every channel, or three,
            one per (BGR) channel.
        max_attempts: how many rectangles to draw before giving up, an integer of 1 or more.
    """

    def __init__(self,
                 prob: float = 0.5,
                 area_range: tuple[float, float] = (0.02, 0.4),
                 min_aspect: float = 0.3,
                 fill: Sequence[float] = IMAGENET_MEAN_BGR,
                 max_attempts: int = 100) -> None:
        if not (is_number(prob) and 0 <= prob <= 1):
            raise ConfigError(f'ReIDRandomErasing: prob is the probability of erasing an '
                              f'image, a number from 0 to 1, got {prob!r}')
        _check_area_range(area_range)
        if not (is_number(min_aspect) and 0 < min_aspect <= 1):
            raise ConfigError(f'ReIDRandomErasing: min_aspect bounds the aspect ratio (h / w) '
                              f'drawn from (min_aspect, 1 / min_aspect), a number in (0, 1] '
                              f'(0.3 by default), got {min_aspect!r}')
        self.prob = prob
        self.area_range = tuple(area_range)
        self.aspect_range = (min_aspect, 1 / min_aspect)
        self.fill = _checked_fill(fill)
        self.max_attempts = positive_int(
            max_attempts, 'ReIDRandomErasing max_attempts',
            'how many rectangles are drawn before an image is left unchanged, 100 by default')

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


def _is_list(value: object) -> bool:
    """Whether ``value`` is a list of values as a config gives one: a sequence other than a
    string, or a one-dimensional array."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _check_area_range(area_range: object) -> None:
    """One sentence unless ``area_range`` is two numbers with 0 < min <= max <= 1 and
    min < 1: the drawn share is uniform in [min, max], and only one below 1 can give a
    rectangle strictly smaller than the image, so (1, 1) would never erase anything."""
    if not (_is_list(area_range) and len(area_range) == 2
            and all(is_number(share) for share in area_range)):
        raise ConfigError(f'ReIDRandomErasing: area_range takes the (min, max) share of the '
                          f'image area to erase, two numbers such as (0.02, 0.4), got '
                          f'{area_range!r}')
    low, high = area_range
    if not 0 < low <= high <= 1:
        raise ConfigError(f'ReIDRandomErasing: area_range takes the (min, max) share of the '
                          f'image area to erase, with 0 < min <= max <= 1, got '
                          f'{tuple(area_range)!r}')
    if low >= 1:
        raise ConfigError(f'ReIDRandomErasing: area_range={tuple(area_range)!r} never erases '
                          f'an image, as the rectangle must be strictly smaller than the '
                          f'image; give a min below 1, such as (0.02, 0.4)')


def _checked_fill(fill: object) -> np.ndarray:
    """``fill`` as a float32 array (of shape () or (3, )), or one sentence unless it is one
    finite number, written into every channel, or three, one per (BGR) channel: other
    lengths fail only when the first rectangle of an (H, W, 3) image is filled."""
    if is_number(fill):
        values = (fill, )
    elif _is_list(fill) and len(fill) == 3:
        values = fill
    else:
        values = None
    if values is None or not all(is_number(value) and math.isfinite(value)
                                 for value in values):
        raise ConfigError(f'ReIDRandomErasing: fill is the value written into the erased '
                          f'rectangle, one finite number or three (one per BGR channel, '
                          f'such as the ImageNet mean {IMAGENET_MEAN_BGR}), got {fill!r}')
    return np.asarray(fill, np.float32)
