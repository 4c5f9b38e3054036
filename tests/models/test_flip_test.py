"""Flip test-time augmentation of ReIDModel (``test_cfg=dict(flip=True)``): the test embedding
is (f(x) + f(flip(x))) / 2, computed in ``predict`` (what the test loop calls); ``'tensor'``
stays one forward pass."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from rga_mm.apis import init_model
from rga_mm.registry import MODELS
from tiny_reid_model import TINY_MODEL

ROOT = Path(__file__).parents[2]
MARKET_RGA_SC = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'

# f(x) = mean over the width of two 1×2 convolutions, one reading the left pixel of each
# pair, the other the right one; pre-BN embedding, so the head adds nothing
COLUMN_MODEL = dict(
    type='ReIDModel',
    backbone=dict(type='Conv2d', in_channels=1, out_channels=2, kernel_size=(1, 2),
                  bias=False),
    head=dict(type='BNNeckHead', in_channels=2, num_classes=2, test_feature='pre_bn'))
# test_reid_model.py's tiny ResNet-18 + RGA re-ID model, with ImageNet normalisation
TINY_RGA_MODEL = dict(
    TINY_MODEL,
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           to_rgb=True))


def column_model(**test_cfg):
    model = MODELS.build(dict(COLUMN_MODEL, test_cfg=test_cfg or None)).eval()
    with torch.no_grad():
        model.backbone.weight.copy_(torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]]))
    return model


def test_flip_by_hand():
    """x = [1, 2, 4]: pairs (1, 2), (2, 4), so f(x) = (mean(1, 2), mean(2, 4)) = (1.5, 3);
    flip(x) = [4, 2, 1]: f = (mean(4, 2), mean(2, 1)) = (3, 1.5); flip test: (2.25, 2.25)."""
    image = torch.tensor([[[[1.0, 2.0, 4.0]]]])
    with torch.no_grad():
        flipped = column_model(flip=True)(image, [DataSample()], mode='predict')
        plain = column_model()(image, [DataSample()], mode='predict')
        tensor = column_model(flip=True)(image, mode='tensor')
    torch.testing.assert_close(flipped[0].pred_feature, torch.tensor([2.25, 2.25]))
    torch.testing.assert_close(plain[0].pred_feature, torch.tensor([1.5, 3.0]))
    torch.testing.assert_close(tensor, torch.tensor([[1.5, 3.0]]))  # one pass, never flipped


def test_flip_of_the_rga_model_through_its_test_step():
    """The test loop's path (data preprocessor, then predict) with flip equals the mean of
    the single-pass embeddings of the images and of their mirrored copies, mirrored before
    normalisation: so flipping the normalised input is flipping the image."""
    model = MODELS.build(dict(TINY_RGA_MODEL, test_cfg=dict(flip=True))).eval()
    images = [torch.randint(0, 256, (3, 64, 32), dtype=torch.uint8) for _ in range(2)]

    def embeddings(batch, **test_cfg):
        model.test_cfg.update(test_cfg)
        samples = model.test_step(dict(inputs=batch, data_samples=[DataSample(), DataSample()]))
        return torch.stack([sample.pred_feature for sample in samples])

    mirrored = [image.flip(-1) for image in images]
    expected = (embeddings(images, flip=False) + embeddings(mirrored, flip=False)) / 2
    flipped = embeddings(images, flip=True)
    torch.testing.assert_close(flipped, expected)
    assert not torch.allclose(flipped, embeddings(images, flip=False), atol=1e-3)


def test_the_config_switch():
    cfg = Config.fromfile(MARKET_RGA_SC)
    cfg.model.backbone.backbone.init_cfg = None
    assert init_model(cfg).test_cfg == dict(flip=False)
    cfg.merge_from_dict({'model.test_cfg.flip': True})  # --cfg-options model.test_cfg.flip=True
    assert init_model(cfg).test_cfg == dict(flip=True)


@pytest.mark.parametrize('test_cfg, message', [
    (dict(flip_test=True), r"unknown test_cfg key\(s\) \['flip_test'\]; the test options are "
                           r"\['flip'\]"),
    (dict(flip='yes'), r"test_cfg flip must be True or False, got 'yes'"),
])
def test_bad_test_cfg_is_named(test_cfg, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(COLUMN_MODEL, test_cfg=test_cfg))
