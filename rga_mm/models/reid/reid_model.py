"""Person re-ID model: backbone → neck (pooling) → BNNeck head, as an mmengine BaseModel."""
import os
import re
from pathlib import Path

import torch
from mmengine.model import BaseModel
from torch import Tensor

from rga_mm.checks import flag
from rga_mm.errors import ConfigError, working_folder_note
from rga_mm.registry import MODELS


def _local_pretrained_checkpoints(module: torch.nn.Module) -> list[str]:
    """Local file paths named by ``Pretrained`` init_cfgs anywhere in ``module``."""
    paths = []
    for sub in module.modules():
        cfgs = getattr(sub, 'init_cfg', None) or []
        for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
            checkpoint = cfg.get('checkpoint') if cfg.get('type') == 'Pretrained' else None
            if checkpoint and '://' not in checkpoint:
                paths.append(checkpoint)
    return paths


# a file name of torchvision's ImageNet ResNet weights, as its download server names them
TORCHVISION_RESNET_FILE = re.compile(r'resnet\d+-[0-9a-f]{8}\.pth')
TORCHVISION_MODELS_URL = 'https://download.pytorch.org/models/'


def download_note(path: str) -> str:
    """Where to download ``path`` from, for a file named as torchvision names its ImageNet
    ResNet weights (``resnet50-19c8e357.pth``, the official RGA code's); else ''."""
    name = os.path.basename(path)
    if not TORCHVISION_RESNET_FILE.fullmatch(name):
        return ''
    return f' (from {TORCHVISION_MODELS_URL}{name})'


@MODELS.register_module()
class ReIDModel(BaseModel):
    """Re-ID network of the paper (§4.1): e.g. ResNet-50 + RGA, pooling, BNNeck head.

    Modes of :meth:`forward`:
        ``'loss'``: dict of losses for a batch with identity labels (``gt_label``);
        ``'predict'``: the data samples with ``pred_feature`` (C,) set to the test
        embedding (:meth:`test_embeddings`: flip-averaged when ``test_cfg`` asks for it);
        ``'tensor'``: the network's embeddings (B, C) of one forward pass, never flipped
        (what FLOPs counting and the attention visualisation hook into).

    Args:
        backbone: e.g. ``StageAttentionBackbone`` around ``mmpretrain.ResNet``.
        head: ``BNNeckHead`` config.
        neck: pooling config (default mmpretrain's ``GlobalAveragePooling``).
        data_preprocessor: normalisation config (mean/std, BGR→RGB).
        test_cfg: test-time options. ``flip=True``: flip test-time augmentation, the
            embedding of an image is the mean of those of the image and of its horizontal
            mirror, (f(x) + f(flip(x))) / 2 (two forward passes). Default off.
    """

    TEST_OPTIONS = dict(flip=False)

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: dict | None = dict(type='mmpretrain.GlobalAveragePooling'),
                 data_preprocessor: dict | None = None,
                 test_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        if data_preprocessor is not None and 'type' not in data_preprocessor:
            data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor', **data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = _checked_test_cfg(test_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)

    def init_weights(self) -> None:
        """Initialise, failing clearly when an ImageNet checkpoint file is missing."""
        for path in _local_pretrained_checkpoints(self):
            if not Path(path).expanduser().is_file():  # mmengine expands '~' as it loads
                raise FileNotFoundError(
                    f'ImageNet checkpoint {path} does not exist{working_folder_note(path)}: '
                    f'put torchvision\'s ResNet weights there{download_note(path)}, point '
                    f'the backbone\'s init_cfg checkpoint elsewhere, or set that init_cfg to '
                    f'None to train from scratch')
        super().init_weights()

    def pooled_features(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) images → (B, C) pooled backbone features."""
        features = self.backbone(inputs)
        if self.neck is not None:
            features = self.neck(features)
        return features[-1] if isinstance(features, (tuple, list)) else features

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, C) test embeddings (pre- or post-BN, per the head)."""
        return self.head.embed(self.pooled_features(inputs))

    def test_embeddings(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, C) embeddings as evaluated: :meth:`extract_feat`, or with
        ``test_cfg.flip`` the mean of those of the images and of their mirrors (flipping
        the normalised input along its width is flipping the image: normalisation is per
        channel)."""
        embeddings = self.extract_feat(inputs)
        if self.test_cfg['flip']:
            embeddings = (embeddings + self.extract_feat(inputs.flip(-1))) / 2
        return embeddings

    def forward(self, inputs: Tensor, data_samples: list | None = None,
                mode: str = 'tensor') -> dict | list | Tensor:
        if mode == 'loss':
            labels = torch.cat([sample.gt_label for sample in data_samples]).to(inputs.device)
            return self.head.loss(self.pooled_features(inputs), labels)
        if mode == 'predict':
            embeddings = self.test_embeddings(inputs)
            for sample, embedding in zip(data_samples, embeddings):
                sample.set_field(embedding, 'pred_feature')
            return data_samples
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")


def _checked_test_cfg(test_cfg: dict | None) -> dict:
    """``ReIDModel.TEST_OPTIONS`` updated with ``test_cfg``; an unknown key or a non-bool
    ``flip`` is an error naming it."""
    test_cfg = dict(test_cfg or {})
    unknown = sorted(set(test_cfg) - set(ReIDModel.TEST_OPTIONS))
    if unknown:
        raise ConfigError(f'ReIDModel: unknown test_cfg key(s) {unknown}; the test options '
                          f'are {sorted(ReIDModel.TEST_OPTIONS)}')
    if 'flip' in test_cfg:
        test_cfg['flip'] = flag(test_cfg['flip'], 'ReIDModel: test_cfg flip')
    return {**ReIDModel.TEST_OPTIONS, **test_cfg}
