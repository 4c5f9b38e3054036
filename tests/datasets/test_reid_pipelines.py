"""The re-ID pipelines of paper §4.1.1: load, resize, flip, pad-and-crop, erase, pack."""
import re

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample

from rga_mm.datasets import (
    IMAGENET_MEAN_BGR,
    TEST_PIPELINE,
    TRAIN_PIPELINE,
    Market1501,
    ReIDRandomErasing,
)
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.errors import ConfigError
from rga_mm.registry import TRANSFORMS
from reid_trees import MARKET, write_tree

IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


@pytest.fixture
def market_images(tmp_path):
    return str(write_tree(tmp_path / 'Market-1501-v15.09.15', MARKET, images=True))


def test_train_pipeline_packs_a_float_256x128_sample(market_images):
    dataset = Market1501(data_root=market_images, split='train', pipeline=TRAIN_PIPELINE)
    packed = dataset[4]  # 0007_c6s1_001151_02.jpg: relabelled identity 1, camera 6
    assert packed['inputs'].shape == (3, 256, 128)
    assert packed['inputs'].dtype == torch.float32
    sample = packed['data_samples']
    assert isinstance(sample, DataSample)
    assert sample.gt_label.tolist() == [1]
    assert sample.camera_id == 5
    assert sample.img_path.endswith('0007_c6s1_001151_02.jpg')
    assert sample.ori_shape == (24, 12)


def test_test_pipeline_keeps_the_query_flag(market_images):
    dataset = Market1501(data_root=market_images, split='test', pipeline=TEST_PIPELINE)
    query, gallery = dataset[0]['data_samples'], dataset[len(dataset) - 1]['data_samples']
    assert dataset[0]['inputs'].shape == (3, 256, 128)
    assert query.is_query is True and gallery.is_query is False
    assert query.gt_label.tolist() == [1] and query.camera_id == 0


def test_erasing_is_zero_after_the_model_normalisation():
    """The official RGA code erases with 0 after normalisation; the pipeline fills the mean
    instead (docs/reid.md, "Differences from the official RGA code")."""
    np.random.seed(0)
    image = np.full((256, 128, 3), 200, np.uint8)
    erased = ReIDRandomErasing(prob=1.0)(dict(img=image))['img']
    mask = (erased != 200).all(axis=-1)
    assert mask.sum() > 0.02 * 256 * 128
    preprocessor = ClsDataPreprocessor(**IMAGENET)
    inputs = torch.from_numpy(np.ascontiguousarray(erased.transpose(2, 0, 1)))
    normalised = preprocessor(dict(inputs=[inputs]))['inputs'][0]
    assert (normalised[:, torch.from_numpy(mask)] == 0).all()
    assert (normalised[:, ~torch.from_numpy(mask)] != 0).all()


def test_erasing_follows_the_official_distribution():
    """Area uniform in 0.02-0.4 of the image, aspect h / w uniform in (0.3, 1 / 0.3), which
    has mean 1.82 (a log-uniform aspect, as in mmpretrain, would have mean 1.26)."""
    np.random.seed(0)
    eraser = ReIDRandomErasing(prob=1.0)
    boxes = np.array([eraser.rectangle(256, 128) for _ in range(2000)])
    area = boxes[:, 2] * boxes[:, 3] / (256 * 128)
    aspect = boxes[:, 2] / boxes[:, 3]
    assert area.min() > 0.019 and area.max() < 0.41
    # The mean area: a draw (share a ~ U(0.02, 0.4), aspect r ~ U(0.3, 1 / 0.3), of length
    # L = 1 / 0.3 - 0.3) is kept only if the rectangle fits: w = sqrt(a·256·128 / r) < 128
    # ⇔ a < r / 2 (h < 256 ⇔ a·r < 2 always holds; rounding moves the bound by < 1 %). So
    # the kept share has density ∝ P(r > 2a) = 1 - max(0, 2a - 0.3) / L, below 1 only for
    # a > 0.15, and mean
    #   (∫_0.02^0.4 a da - ∫_0.15^0.4 a (2a - 0.3) / L da) / (0.38 - ∫_0.15^0.4 (2a - 0.3) / L da)
    #   = (0.0798 - 0.019792 / L) / (0.38 - 0.0625 / L) = 0.2039  (0.21 without the rejection;
    # 0.38 / ln 20 = 0.127 for a log-uniform share). Its sd is at most that of U(0.02, 0.4),
    # 0.38 / √12 = 0.110, so the standard error of 2000 draws is 0.0025: 5 SE = 0.0123.
    length = 1 / 0.3 - 0.3
    expected_mean = (0.0798 - 0.019792 / length) / (0.38 - 0.0625 / length)
    assert abs(expected_mean - 0.2039) < 1e-4
    assert abs(area.mean() - expected_mean) < 5 * 0.38 / np.sqrt(12) / np.sqrt(len(area))
    assert aspect.min() > 0.28 and aspect.max() < 3.5
    assert 1.72 < aspect.mean() < 1.92
    assert (boxes[:, 0] + boxes[:, 2] <= 256).all() and (boxes[:, 1] + boxes[:, 3] <= 128).all()
    half = ReIDRandomErasing(prob=0.5)
    assert 900 < sum(half.rectangle(256, 128) is not None for _ in range(2000)) < 1100


def test_pad_and_random_crop_is_a_window_of_the_padded_image():
    """With p = 0.5 the image is padded by 16 (top/bottom) and 8 (left/right) pixels,
    i.e. ×1.125, and a 256 × 128 window is cut at a random offset."""
    crop_step = next(step for step in TRAIN_PIPELINE if step['type'] == 'RandomApply')
    assert crop_step['prob'] == 0.5
    crop = TRANSFORMS.build(dict(crop_step, prob=1.0))
    rng = np.random.default_rng(0)
    image = rng.integers(1, 256, (256, 128, 3), dtype=np.uint8)  # no zero pixel
    padded = np.zeros((288, 144, 3), np.uint8)
    padded[16:272, 8:136] = image
    np.random.seed(0)
    offsets = []
    for _ in range(40):
        out = crop(dict(img=image.copy(), img_shape=(256, 128)))['img']
        assert out.shape == (256, 128, 3)
        found = [(dy, dx) for dy in range(33) for dx in range(17)
                 if np.array_equal(padded[dy:dy + 256, dx:dx + 128], out)]
        assert len(found) == 1
        offsets.append(found[0])
    offsets = np.array(offsets)
    assert offsets[:, 0].min() < 8 and offsets[:, 0].max() > 24


def test_train_pipeline_randomness_is_reproducible(market_images):
    pipeline = Compose(TRAIN_PIPELINE)
    path = f'{market_images}/bounding_box_train/0002_c1s1_000451_03.jpg'
    outputs = []
    for _ in range(2):
        np.random.seed(3)
        outputs.append(pipeline(dict(img_path=path, gt_label=0, camera_id=0))['inputs'])
    assert torch.equal(*outputs)


def test_unreadable_image_names_the_file(market_images):
    dataset = Market1501(data_root=market_images, split='train', pipeline=TRAIN_PIPELINE)
    path = dataset.get_data_info(0)['img_path']
    with open(path, 'wb') as file:
        file.write(b'not a jpeg')
    with pytest.raises(UnreadableImageError, match=re.escape(
            f'cannot read image {path}: 10 bytes that cv2 cannot decode as an image '
            '(truncated, corrupt or not an image file); replace or remove it (python '
            'tools/misc/check_dataset.py CONFIG lists every unreadable image of a config)')):
        dataset[0]


def test_fill_is_the_imagenet_mean_in_bgr_order():
    # mmcv loads BGR; the preprocessor's mean is in RGB order
    assert IMAGENET_MEAN_BGR == tuple(IMAGENET['mean'][::-1])


_AREA = 'ReIDRandomErasing: area_range takes the (min, max) share of the image area to erase'
_FILL = ('ReIDRandomErasing: fill is the value written into the erased rectangle, one finite '
         'number or three (one per BGR channel, such as the ImageNet mean (103.53, 116.28, '
         '123.675)), got ')
_ATTEMPTS = ('ReIDRandomErasing max_attempts must be a positive int (how many rectangles are '
             'drawn before an image is left unchanged, 100 by default), got ')


_ERASING_REFUSALS = [
    (dict(max_attempts=0), _ATTEMPTS + '0'),
    (dict(max_attempts=-3), _ATTEMPTS + '-3'),
    (dict(max_attempts='100'), _ATTEMPTS + "'100'"),
    (dict(max_attempts=2.5), _ATTEMPTS + '2.5'),
    (dict(area_range=(1.0, 1.0)),
     'ReIDRandomErasing: area_range=(1.0, 1.0) never erases an image, as the rectangle must be '
     'strictly smaller than the image; give a min below 1, such as (0.02, 0.4)'),
    (dict(area_range=(0.02, 0.4, 0.9)),
     f'{_AREA}, two numbers such as (0.02, 0.4), got (0.02, 0.4, 0.9)'),
    (dict(area_range=0.4), f'{_AREA}, two numbers such as (0.02, 0.4), got 0.4'),
    (dict(area_range=('0.02', 0.4)),
     f"{_AREA}, two numbers such as (0.02, 0.4), got ('0.02', 0.4)"),
    (dict(area_range=[0.5, 0.2]), f'{_AREA}, with 0 < min <= max <= 1, got (0.5, 0.2)'),
    (dict(area_range=(0, 0.4)), f'{_AREA}, with 0 < min <= max <= 1, got (0, 0.4)'),
    (dict(fill=(0, 0)), _FILL + '(0, 0)'),
    (dict(fill=(0, 0, 0, 0)), _FILL + '(0, 0, 0, 0)'),
    (dict(fill='random'), _FILL + "'random'"),
    (dict(fill=(0, float('nan'), 0)), _FILL + '(0, nan, 0)'),
    (dict(prob='0.5'),
     "ReIDRandomErasing: prob is the probability of erasing an image, a number from 0 to 1, "
     "got '0.5'"),
    (dict(prob=1.5),
     'ReIDRandomErasing: prob is the probability of erasing an image, a number from 0 to 1, '
     'got 1.5'),
    (dict(min_aspect='0.3'),
     'ReIDRandomErasing: min_aspect bounds the aspect ratio (h / w) drawn from (min_aspect, '
     "1 / min_aspect), a number in (0, 1] (0.3 by default), got '0.3'"),
    (dict(min_aspect=0),
     'ReIDRandomErasing: min_aspect bounds the aspect ratio (h / w) drawn from (min_aspect, '
     '1 / min_aspect), a number in (0, 1] (0.3 by default), got 0'),
]


@pytest.mark.parametrize('options, message', _ERASING_REFUSALS,
                         ids=[repr(options) for options, _ in _ERASING_REFUSALS])
def test_erasing_refuses_settings_that_fail_or_switch_it_off_at_build(options, message):
    """Each would erase nothing (max_attempts below 1, a rectangle as large as the image) or
    fail only at the first erased image, inside a DataLoader worker."""
    with pytest.raises(ConfigError) as error:
        TRANSFORMS.build(dict(type='ReIDRandomErasing', **{'prob': 1.0, **options}))
    assert str(error.value) == message


def test_erasing_takes_one_fill_value_or_three_and_any_integer_type():
    image = np.full((32, 16, 3), 200, np.uint8)
    np.random.seed(0)
    grey = ReIDRandomErasing(prob=1, fill=0, area_range=[0.5, 0.9], max_attempts=np.int64(10))
    assert grey.max_attempts == 10 and type(grey.max_attempts) is int
    assert (grey(dict(img=image.copy()))['img'] == 0).all(axis=-1).any()
    bgr = ReIDRandomErasing(prob=1, fill=np.array([1.0, 2.0, 3.0]), area_range=(0.5, 1))
    erased = bgr(dict(img=image.copy()))['img']
    assert (erased == [1.0, 2.0, 3.0]).all(axis=-1).any()
