"""rga_mm's LoadImageFromFile: mmcv's loading step whose every failure names the file, used
by every re-ID pipeline (the base configs', rga_mm.datasets', and through the rga_mm scope
the configs that still say ``LoadImageFromFile``)."""
import pickle
import re
import struct
import zlib
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import Compose

from rga_mm.datasets import TEST_PIPELINE, TRAIN_PIPELINE
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.errors import ConfigError
from rga_mm.registry import TRANSFORMS

ROOT = Path(__file__).parents[2]


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / 'person.jpg'
    mmcv.imwrite(np.random.default_rng(0).integers(0, 255, (64, 32, 3), np.uint8), str(path))
    return path


def _bad_files(tmp_path: Path, image: Path) -> dict:
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(image.read_bytes()[:200])
    text = tmp_path / 'notes.jpg'
    text.write_text('not an image')
    folder = tmp_path / 'folder.jpg'
    folder.mkdir()
    return {empty: 'the file is empty (0 bytes)',
            truncated: '200 bytes that cv2 cannot decode as an image',
            text: '12 bytes that cv2 cannot decode as an image',
            folder: 'Is a directory',
            tmp_path / 'missing.jpg': 'the file does not exist'}


def test_every_unreadable_file_is_named_with_the_reason(tmp_path, image):
    load = LoadImageFromFile()
    for path, reason in _bad_files(tmp_path, image).items():
        with pytest.raises(UnreadableImageError,
                           match=re.escape(f'cannot read image {path}: {reason}')) as error:
            load(dict(img_path=str(path)))
        assert error.value.path == str(path) and error.value.reason.startswith(reason)
        assert 'tools/misc/check_dataset.py' in str(error.value)
        copy = pickle.loads(pickle.dumps(error.value))  # as a worker process hands it over
        assert str(copy) == str(error.value) and copy.reason == error.value.reason
        assert LoadImageFromFile(ignore_empty=True)(dict(img_path=str(path))) is None


def test_a_readable_image_loads_as_with_mmcv(image):
    ours = LoadImageFromFile(to_float32=True)(dict(img_path=str(image)))
    mmcv_result = MMCVLoadImageFromFile(to_float32=True)(dict(img_path=str(image)))
    assert np.array_equal(ours['img'], mmcv_result['img']) and ours['img'].dtype == np.float32
    assert ours['img_shape'] == ours['ori_shape'] == (64, 32)


@pytest.mark.parametrize('pipeline', [
    TRAIN_PIPELINE, TEST_PIPELINE,
    Config.fromfile(ROOT / 'configs/_base_/datasets/market1501-256x128.py').train_pipeline,
    Config.fromfile(ROOT / 'configs/_base_/datasets/market1501-256x128.py').test_pipeline,
    [dict(type='LoadImageFromFile')],  # a config in the rga_mm scope, unchanged
], ids=['TRAIN_PIPELINE', 'TEST_PIPELINE', 'base-train', 'base-test', 'scope'])
def test_re_id_pipelines_name_an_empty_image(pipeline, tmp_path):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    assert isinstance(TRANSFORMS.build(pipeline[0]), LoadImageFromFile)
    with pytest.raises(UnreadableImageError, match=re.escape(str(empty))):
        Compose(pipeline)(dict(img_path=str(empty), gt_label=0, camera_id=0))


@pytest.mark.parametrize('shape, backend', [
    ((24, 12, 3), 'cv2'), ((24, 12, 3), 'pillow'), ((24, 12), 'cv2'),
], ids=['colour-cv2', 'colour-pillow', 'grey-cv2'])
def test_a_float32_tiff_is_refused_as_such_not_as_corrupt(tmp_path, shape, backend):
    """OpenCV decodes it only with the 'unchanged' flag; its value range is not in the file,
    so the loader names its dtype instead of guessing a scale to 8 bits."""
    path = tmp_path / 'person.tiff'
    pixels = np.random.default_rng(0).random(shape).astype(np.float32)
    assert cv2.imwrite(str(path), pixels)
    reason = (f"the file decodes only with color_type='unchanged', to float32 pixels of "
              f'shape {shape}, where 8-bit (uint8) images are expected')
    with pytest.raises(UnreadableImageError, match=re.escape(f'{path}: {reason}')) as error:
        LoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(path)))
    assert error.value.reason == reason and 'corrupt' not in str(error.value)
    unchanged = LoadImageFromFile(color_type='unchanged')(dict(img_path=str(path)))['img']
    assert unchanged.dtype == np.float32 and np.array_equal(unchanged, pixels)


def _png_header(width: int, height: int) -> bytes:
    """A 1-bit grey PNG of ``width`` × ``height`` pixels whose pixel data is missing: enough
    for a decoder's header checks, a few dozen bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data)))

    header = struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(b''))
            + chunk(b'IEND', b''))


def test_an_image_over_opencvs_pixel_limit_is_named_with_its_size(tmp_path):
    """Not called corrupt: its size, OpenCV's limit and the two ways out."""
    path = tmp_path / 'panorama.png'
    path.write_bytes(_png_header(33000, 33000))
    reason = ("the image is 33000×33000 pixels, over OpenCV's limit of 2^30 pixels: "
              'downscale it, or raise the limit with the environment variable '
              'OPENCV_IO_MAX_IMAGE_PIXELS')
    with pytest.raises(UnreadableImageError) as error:
        LoadImageFromFile()(dict(img_path=str(path)))
    assert error.value.reason == reason
    assert str(error.value).startswith(f'cannot read image {path}: {reason}; ')


_FLAGS = ("'color', 'grayscale', 'unchanged', 'color_ignore_orientation', "
          "'grayscale_ignore_orientation'")
_BACKENDS = "'cv2', 'turbojpeg', 'pillow', 'tifffile'"
_LOADING_REFUSALS = [
    (dict(color_type='colour'),
     f"LoadImageFromFile: color_type is mmcv's decoding flag, one of {_FLAGS}, got 'colour'; "
     "did you mean 'color'?"),
    (dict(color_type='colour', ignore_empty=True),
     f"LoadImageFromFile: color_type is mmcv's decoding flag, one of {_FLAGS}, got 'colour'; "
     "did you mean 'color'?"),
    (dict(color_type=cv2.IMREAD_COLOR, imdecode_backend='pillow'),
     f"LoadImageFromFile: color_type is mmcv's decoding flag, one of {_FLAGS}, got 1"),
    (dict(imdecode_backend='foo'),
     f"LoadImageFromFile: imdecode_backend is mmcv's image decoder, one of {_BACKENDS}, got "
     "'foo'"),
    (dict(imdecode_backend='Pillow'),
     f"LoadImageFromFile: imdecode_backend is mmcv's image decoder, one of {_BACKENDS}, got "
     "'Pillow'; did you mean 'pillow'?"),
    (dict(imdecode_backend='turbojpeg', color_type='unchanged'),
     "LoadImageFromFile: imdecode_backend='turbojpeg' takes only color_type 'color' or "
     "'grayscale', got 'unchanged'; use one of them, or another decoder such as 'cv2'"),
    (dict(ignore_empty='False'),
     "LoadImageFromFile ignore_empty must be True or False, got 'False'"),
    (dict(to_float32=1), 'LoadImageFromFile to_float32 must be True or False, got 1'),
]


@pytest.mark.parametrize('options, message', _LOADING_REFUSALS,
                         ids=[repr(options) for options, _ in _LOADING_REFUSALS])
def test_unknown_decoding_settings_are_refused_at_build(options, message):
    """Not at the first image, as if that good file could not be decoded (or, with
    ignore_empty=True, by skipping every image)."""
    with pytest.raises(ConfigError) as error:
        TRANSFORMS.build(dict(type='LoadImageFromFile', **options))
    assert str(error.value) == message


@pytest.mark.skipif(mmcv.image.io.tifffile is not None, reason='tifffile is installed')
def test_a_decoder_whose_library_is_missing_is_refused_at_build():
    with pytest.raises(ConfigError) as error:
        LoadImageFromFile(imdecode_backend='tifffile')
    assert str(error.value) == (
        "LoadImageFromFile: imdecode_backend='tifffile' needs the tifffile package, which is "
        "not installed; install it (pip install tifffile) or use imdecode_backend='cv2'")


def test_every_mmcv_flag_and_an_opencv_flag_with_cv2_load(image):
    for color_type in mmcv.image.io.imread_flags:
        for backend in ('cv2', 'pillow'):
            load = LoadImageFromFile(color_type=color_type, imdecode_backend=backend)
            assert load(dict(img_path=str(image)))['img'].shape[:2] == (64, 32)
    opencv = LoadImageFromFile(color_type=cv2.IMREAD_GRAYSCALE)(dict(img_path=str(image)))
    assert opencv['img'].shape == (64, 32)
