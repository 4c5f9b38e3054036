"""Thumbnails of the images in a picture of several (ranked lists, data batches)."""
import cv2
import numpy as np

MIN_THUMBNAIL_SIDE = 8


def checked_thumbnail_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as a (height, width) tuple; a ValueError unless both are 8 pixels or more."""
    size = tuple(size)
    if min(size) < MIN_THUMBNAIL_SIDE:
        raise ValueError(f'thumbnail_size must be at least {MIN_THUMBNAIL_SIDE}×'
                         f'{MIN_THUMBNAIL_SIDE} pixels, got {size}')
    return size


def thumbnail(image: np.ndarray, size: tuple[int, int], drawer: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image resized to ``size`` = (height, width): by area when it
    shrinks, bilinear when it grows; a ValueError naming ``drawer`` for another shape."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'{drawer} needs (H, W, 3) RGB images, got shape {image.shape}')
    height, width = size
    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image, dtype=np.uint8), (width, height),
                      interpolation=interpolation)
