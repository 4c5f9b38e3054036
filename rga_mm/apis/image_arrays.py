"""The checks on an image given to :class:`rga_mm.apis.ReIDInferencer` as an array: one the
test pipeline can take as a BGR image with values 0-255, as ``mmcv.imread`` returns it, passes
(float16 widened to float32); any other is refused with a sentence saying how to convert it.

Grayscale (H, W) or (H, W, 1) and BGRA (H, W, 4) arrays are turned into (H, W, 3) BGR as
``mmcv.imread`` (OpenCV's ``IMREAD_COLOR``) turns a grayscale or RGBA image file: the gray
value in all three channels, the alpha channel dropped. An RGB or RGBA array (PIL's order)
is put in BGR order first where the caller says so (:func:`in_bgr_order`).
"""
import warnings

import numpy as np

# the dtypes cv2.resize (the pipeline's resizing) takes; float16 is widened to float32
ARRAY_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
# how far a float image may stray outside 0-255 (a bicubic resize overshoots a little)
FLOAT_MARGIN = 1.0
# the channel counts of the images OpenCV reads: gray, BGR, BGRA
CHANNEL_COUNTS = (1, 3, 4)
# the orders an array's colour channels may come in: mmcv's and OpenCV's, and PIL's
CHANNEL_ORDERS = ('bgr', 'rgb')


def check_channel_order(channel_order: str) -> None:
    """Refuse a ``channel_order`` that is not one of :data:`CHANNEL_ORDERS`, in one sentence."""
    if not isinstance(channel_order, str) or channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be 'bgr' (arrays as mmcv.imread or cv2.imread "
                         f"return them) or 'rgb' (arrays from PIL), got "
                         f"{channel_order!r}")


def in_bgr_order(array: np.ndarray, channel_order: str) -> np.ndarray:
    """``array``, an (H, W, 3) or (H, W, 4) image whose colour channels come in
    ``channel_order``, with them in BGR order (an RGBA image becomes BGRA); any other array
    (grayscale, or a shape :func:`as_bgr` refuses) as it is."""
    if channel_order == 'bgr' or array.ndim != 3 or array.shape[2] not in (3, 4):
        return array
    return np.ascontiguousarray(array[..., [2, 1, 0, 3][:array.shape[2]]])


def checked_array(index: int, array: np.ndarray) -> np.ndarray:
    """``array`` (the input at position ``index``) as the (H, W, 3) BGR image the pipeline
    takes (:func:`as_bgr`; float16 is widened to float32), with a warning for a float image
    scaled to [0, 1].

    Raises:
        ValueError: empty, a shape :func:`as_bgr` refuses, a dtype cv2.resize cannot take,
            NaN or inf, or values outside 0-255 (an integer one: a 16-bit image, which
            ``mmcv.imread`` reads as 8 bits; a float one more than ``FLOAT_MARGIN`` outside:
            normalised or 16-bit), refused rather than embedded as garbage.
    """
    if array.size == 0:
        raise ValueError(f'input {index} is an empty array of shape {array.shape}; give '
                         f'images at least one pixel high and wide')
    array = as_bgr(index, array)
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype not in ARRAY_DTYPES:
        names = ', '.join(np.dtype(dtype).name for dtype in ARRAY_DTYPES)
        raise ValueError(f'input {index} is an array of dtype {array.dtype}, which the '
                         f'pipeline cannot resize; convert it to one of {names} (uint8 as '
                         f'mmcv.imread returns)')
    if array.dtype.kind == 'f':
        _check_float_values(index, array)
    elif array.dtype != np.uint8:
        _check_integer_values(index, array)
    return array


def as_bgr(index: int, array: np.ndarray) -> np.ndarray:
    """An (H, W, 3) BGR image of the (H, W) or (H, W, 1) grayscale, (H, W, 3) BGR or
    (H, W, 4) BGRA ``array`` (the input at position ``index``), as ``mmcv.imread`` reads
    such an image file: gray in all three channels, alpha dropped (module docstring).

    Raises:
        ValueError: any other shape; a channels-first (C, H, W) one is told how to convert.
    """
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in CHANNEL_COUNTS:
        raise ValueError(f'input {index} is an array of shape {array.shape}{_shape_hint(array)}')
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def _shape_hint(array: np.ndarray) -> str:
    """The end of the sentence refusing ``array``'s shape: how to convert a channels-first
    (C, H, W) image, else the shapes taken."""
    if array.ndim == 3 and array.shape[0] in CHANNEL_COUNTS:
        return (', channels first; give (H, W, C) images as mmcv.imread returns them: '
                'array.transpose(1, 2, 0)')
    return ('; give (H, W, 3) BGR images as mmcv.imread returns them, or (H, W) grayscale or '
            '(H, W, 4) BGRA ones')


def _check_integer_values(index: int, array: np.ndarray) -> None:
    """Refuse a uint16 or int16 array with values outside 0-255, as a 16-bit image gives."""
    low, high = int(array.min()), int(array.max())
    if low < 0:
        raise ValueError(f'input {index} is an {array.dtype} array with values down to '
                         f'{low}, but the pipeline expects BGR values 0-255 as mmcv.imread '
                         f'gives; give values 0-255')
    if high > 255:
        raise ValueError(f'input {index} is a {array.dtype} array with values up to {high}, '
                         f'but the pipeline expects BGR values 0-255 as mmcv.imread gives '
                         f'(it reads a 16-bit image file as 8 bits, value >> 8); convert it '
                         f'the same way, (array >> 8).astype(np.uint8)')


def _check_float_values(index: int, array: np.ndarray) -> None:
    """Refuse NaN or inf and values well outside 0-255 (an image normalised already, or
    scaled to 16 bits; ``FLOAT_MARGIN`` allows for a resampling's overshoot); warn when
    every value lies in [0, 1] (an image scaled to 0-1)."""
    if not np.isfinite(array).all():
        raise ValueError(f'input {index} holds NaN or infinite values; give finite pixel '
                         f'values 0-255')
    low, high = float(array.min()), float(array.max())
    # below the margin, or below 0 with nothing above it: [-1, 1], mean/std normalised
    if low < -FLOAT_MARGIN or (low < 0 and high <= FLOAT_MARGIN):
        raise ValueError(f'input {index} is a float array with values down to {low:.3g}, '
                         f'as a normalised image has; give BGR values 0-255 as mmcv.imread '
                         f'gives (the model normalises them itself)')
    if high > 255 + FLOAT_MARGIN:
        raise ValueError(f'input {index} is a float array with values up to {high:.6g}; '
                         f'give BGR values 0-255 as mmcv.imread gives (a 16-bit image: '
                         f'divide it by 257)')
    if low >= 0 and high <= 1 and high > 0:
        warnings.warn(f'input {index} is a float array with all values in [0, 1], but the '
                      f'pipeline expects BGR values 0-255 as mmcv.imread gives; multiply it '
                      f'by 255 unless it is a very dark image', UserWarning)
