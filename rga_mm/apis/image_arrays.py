"""The checks on an image given to :class:`rga_mm.apis.ReIDInferencer` as an array: one the
test pipeline can take as a BGR image with values 0-255, as ``mmcv.imread`` returns it, passes
(float16 widened to float32); any other is refused with a sentence saying how to convert it.
"""
import warnings

import numpy as np

# the dtypes cv2.resize (the pipeline's resizing) takes; float16 is widened to float32
ARRAY_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
# how far a float image may stray outside 0-255 (a bicubic resize overshoots a little)
FLOAT_MARGIN = 1.0


def checked_array(index: int, array: np.ndarray) -> np.ndarray:
    """``array`` (the input at position ``index``) if the pipeline can take it as an image
    (float16 is widened to float32), with a warning for a float image scaled to [0, 1].

    Raises:
        ValueError: not (H, W, 3), empty, a dtype cv2.resize cannot take, NaN or inf, or
            values outside 0-255 (an integer one: a 16-bit image, which ``mmcv.imread``
            reads as 8 bits; a float one more than ``FLOAT_MARGIN`` outside: normalised or
            16-bit), refused rather than embedded as garbage.
    """
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f'input {index} is an array of shape {array.shape}; give (H, W, 3) '
                         f'BGR images as mmcv.imread returns them')
    if array.size == 0:
        raise ValueError(f'input {index} is an empty array of shape {array.shape}; give '
                         f'images at least one pixel high and wide')
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
