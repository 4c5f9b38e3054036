"""Image loading whose every failure names the file.

mmcv's ``LoadImageFromFile`` names a file that OpenCV cannot decode, but an empty file ends
in OpenCV's own ``!buf.empty()`` assertion, without the file's name, possibly hours into a
run. :class:`LoadImageFromFile` here is mmcv's with one reading path,
:meth:`LoadImageFromFile.read`, that turns every failure (missing, unreadable, empty,
undecodable) into an :class:`UnreadableImageError` naming the file and the reason. It is
registered under mmcv's name in the ``rga_mm`` scope, as mmocr does with its own
``LoadImageFromFile``: configs with ``default_scope='rga_mm'`` get it without a change, and
tools that recognise the loading step by name (the attention visualiser) still do.
``tools/misc/check_dataset.py`` reads a config's images through the same method.

A file that decodes, but not to 8-bit pixels (a float32 or 32-bit integer TIFF, say), is
refused with that reason rather than called corrupt: OpenCV decodes such a file only with
``color_type='unchanged'`` and returns nothing for ``'color'`` or ``'grayscale'``, the flags
every re-ID pipeline uses. It is not converted, because its value range (0..1, 0..255, or
unbounded as in HDR) is not in the file: a guessed scale would train silently on black or
saturated images, and the pipeline's ``Normalize`` mean and std are for 0..255 pixels. mmcv's
own loader refuses the file too, as an undecodable one. With ``color_type='unchanged'`` such
a file loads as it is, as in mmcv.

An image of more pixels than OpenCV decodes (``OPENCV_IO_MAX_IMAGE_PIXELS``, 2^30 by
default) is refused with its size, read from the header, and the two ways out, rather than
called corrupt.

The decoding settings are checked when the step is built: a ``color_type`` or
``imdecode_backend`` that mmcv does not know would otherwise fail at the first image, as if
that good file could not be decoded (or, with ``ignore_empty=True``, skip every image).
"""
import io
import os

import mmcv
import mmcv.image.io as mmcv_image_io
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from PIL import Image

from rga_mm.checks import flag, is_int
from rga_mm.errors import ConfigError, closest_choice_hint
from rga_mm.registry import TRANSFORMS

CHECK_HINT = ('replace or remove it (python tools/misc/check_dataset.py CONFIG lists every '
              'unreadable image of a config)')
# what OpenCV's error says when an image has more pixels than it decodes
PIXEL_LIMIT_ERROR = 'CV_IO_MAX_IMAGE_PIXELS'
PIXEL_LIMIT_VARIABLE = 'OPENCV_IO_MAX_IMAGE_PIXELS'
# the flags mmcv's turbojpeg decoder takes (the other decoders take every imread flag)
TURBOJPEG_COLOR_TYPES = ('color', 'grayscale')
# each of mmcv's optional decoders: the name under which mmcv imports its library (None
# there when it is not installed) and the package to install
DECODER_LIBRARIES = {'turbojpeg': ('TurboJPEG', 'PyTurboJPEG'), 'pillow': ('Image', 'Pillow'),
                     'tifffile': ('tifffile', 'tifffile')}


class UnreadableImageError(OSError):
    """An image file that cannot be read or decoded; the message names the file.

    ``path`` and ``reason`` are kept apart for listings. The message alone is enough to
    rebuild the error, as PyTorch does when a DataLoader worker raised it.
    """

    def __init__(self, message: str, path: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason

    @classmethod
    def of(cls, path: str, reason: str) -> 'UnreadableImageError':
        return cls(f'cannot read image {path}: {reason}; {CHECK_HINT}', path, reason)

    def __reduce__(self):  # pickled (multiprocessing) with its path and reason
        return type(self), (str(self), self.path, self.reason)


def header_size(img_bytes: bytes) -> tuple[int, int] | None:
    """(width, height) of the image ``img_bytes`` from its header, which Pillow reads without
    decoding the pixels (its decompression-bomb limit is lifted meanwhile, as nothing is
    decoded); None where Pillow cannot read the header."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(io.BytesIO(img_bytes)) as image:
            return image.size
    except Exception:  # any Pillow error: a format or header it cannot read
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def oversized_reason(img_bytes: bytes) -> str:
    """Why the image ``img_bytes``, which OpenCV refuses for its pixel count, cannot be
    loaded: its size (from the header, where Pillow can read it), OpenCV's limit and the two
    ways out."""
    size = header_size(img_bytes)
    limit = f"OpenCV's limit of {os.environ.get(PIXEL_LIMIT_VARIABLE) or '2^30'} pixels"
    image = (f'the image is {size[0]}×{size[1]} pixels, over {limit}' if size
             else f'the image has more pixels than {limit}')
    return (f'{image}: downscale it, or raise the limit with the environment variable '
            f'{PIXEL_LIMIT_VARIABLE}')


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` whose failures name the file (module docstring).

    The arguments and the produced keys (``img``, ``img_shape``, ``ori_shape``) are
    mmcv's. With ``ignore_empty=True`` an unreadable file gives ``None`` (the item is
    skipped) instead of an error; mmcv skips only files that cannot be fetched or decoded
    with an error, and stops on those OpenCV decodes to nothing.

    Unlike mmcv's, it refuses at build (:meth:`check_settings`) a ``color_type`` other than
    mmcv's imread flags (an OpenCV ``IMREAD_*`` int too with the cv2 decoder), an
    ``imdecode_backend`` other than mmcv's decoders or one whose library is not installed,
    and switches that are not bools.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str | None = 'cv2',
                 file_client_args: dict | None = None,
                 ignore_empty: bool = False,
                 *,
                 backend_args: dict | None = None) -> None:
        super().__init__(to_float32, color_type, imdecode_backend, file_client_args,
                         ignore_empty, backend_args=backend_args)
        self.check_settings()

    def check_settings(self) -> None:
        """ConfigError (one sentence naming the argument and the accepted values) unless
        ``to_float32`` and ``ignore_empty`` are bools, ``imdecode_backend`` is one of mmcv's
        decoders (or None, mmcv's global choice) whose library is installed, and
        ``color_type`` is a flag that decoder takes."""
        flag(self.to_float32, 'LoadImageFromFile to_float32')
        flag(self.ignore_empty, 'LoadImageFromFile ignore_empty')
        backend, color_type = self.imdecode_backend, self.color_type
        backends = mmcv_image_io.supported_backends
        if backend is not None and backend not in backends:
            raise ConfigError(f"LoadImageFromFile: imdecode_backend is mmcv's image decoder, "
                              f"one of {', '.join(map(repr, backends))}, got {backend!r}"
                              f'{closest_choice_hint(backend, backends)}')
        flags = list(mmcv_image_io.imread_flags)
        known = isinstance(color_type, str) and color_type in flags
        opencv_flag = is_int(color_type) and backend in ('cv2', None)
        if not (known or opencv_flag):
            raise ConfigError(f"LoadImageFromFile: color_type is mmcv's decoding flag, one of "
                              f"{', '.join(map(repr, flags))}, got {color_type!r}"
                              f'{closest_choice_hint(color_type, flags)}')
        if backend == 'turbojpeg' and color_type not in TURBOJPEG_COLOR_TYPES:
            raise ConfigError(f"LoadImageFromFile: imdecode_backend='turbojpeg' takes only "
                              f"color_type {' or '.join(map(repr, TURBOJPEG_COLOR_TYPES))}, "
                              f"got {color_type!r}; use one of them, or another decoder "
                              f"such as 'cv2'")
        library, package = DECODER_LIBRARIES.get(backend, (None, None))
        if library is not None and getattr(mmcv_image_io, library, None) is None:
            raise ConfigError(f'LoadImageFromFile: imdecode_backend={backend!r} needs the '
                              f'{package} package, which is not installed; install it (pip '
                              f"install {package}) or use imdecode_backend='cv2'")

    def read(self, filename: str) -> np.ndarray:
        """The decoded image of ``filename``, or :class:`UnreadableImageError`."""
        try:
            if self.file_client_args is not None:
                client = fileio.FileClient.infer_client(self.file_client_args, filename)
                img_bytes = client.get(filename)
            else:
                img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            raise UnreadableImageError.of(filename, 'the file does not exist') from None
        except OSError as error:  # a folder, no permission, a failing mount
            reason = error.strerror or str(error) or type(error).__name__
            raise UnreadableImageError.of(filename, reason) from None
        if not img_bytes:
            raise UnreadableImageError.of(filename, 'the file is empty (0 bytes)')
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
            detail = ''
        except Exception as error:  # OpenCV / Pillow / turbojpeg decoding errors
            if PIXEL_LIMIT_ERROR in str(error):
                raise UnreadableImageError.of(filename, oversized_reason(img_bytes)) from None
            img, detail = None, f' ({type(error).__name__}: {str(error).strip()})'
        if img is None:
            raise UnreadableImageError.of(filename, self.undecodable_reason(img_bytes, detail))
        return img

    def undecodable_reason(self, img_bytes: bytes, detail: str = '') -> str:
        """Why ``img_bytes``, which the configured flag and backend decode to nothing, cannot
        be loaded: pixels other than 8-bit (what OpenCV decodes them to with the ``unchanged``
        flag, e.g. float32 of shape (H, W, 3)), else a truncated, corrupt or non-image file.

        ``detail`` is the decoder's error, if it raised one, in parentheses.
        """
        try:
            unchanged = mmcv.imfrombytes(img_bytes, flag='unchanged', backend='cv2')
        except Exception:  # any OpenCV error: not decodable at all
            unchanged = None
        if unchanged is not None and unchanged.dtype != np.uint8:
            return (f'the file decodes only with color_type=\'unchanged\', to {unchanged.dtype} '
                    f'pixels of shape {tuple(unchanged.shape)}, where 8-bit (uint8) images '
                    f'are expected')
        return (f'{len(img_bytes)} bytes that {self.imdecode_backend} cannot decode as an image '
                f'(truncated, corrupt or not an image file){detail}')

    def transform(self, results: dict) -> dict | None:
        try:
            img = self.read(results['img_path'])
        except UnreadableImageError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
