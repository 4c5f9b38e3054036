"""Person re-ID model: backbone → neck (pooling) → BNNeck head, as an mmengine BaseModel."""
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

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


@MODELS.register_module()
class ReIDModel(BaseModel):
    """Re-ID network of the paper (§4.1): e.g. ResNet-50 + RGA, pooling, BNNeck head.

    Modes of :meth:`forward`:
        ``'loss'``: dict of losses for a batch with identity labels (``gt_label``);
        ``'predict'``: the data samples with ``pred_feature`` (C,) set;
        ``'tensor'``: the test embeddings (B, C).

    Args:
        backbone: e.g. ``StageAttentionBackbone`` around ``mmpretrain.ResNet``.
        head: ``BNNeckHead`` config.
        neck: pooling config (default mmpretrain's ``GlobalAveragePooling``).
        data_preprocessor: normalisation config (mean/std, BGR→RGB).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = dict(type='mmpretrain.GlobalAveragePooling'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is not None and 'type' not in data_preprocessor:
            data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor', **data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)

    def init_weights(self) -> None:
        """Initialise, failing clearly when an ImageNet checkpoint file is missing."""
        for path in _local_pretrained_checkpoints(self):
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f'ImageNet checkpoint {path} does not exist: put torchvision\'s ResNet '
                    f'weights there, point the backbone\'s init_cfg checkpoint elsewhere, or '
                    f'set that init_cfg to None to train from scratch')
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

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list, Tensor]:
        if mode == 'loss':
            labels = torch.cat([sample.gt_label for sample in data_samples]).to(inputs.device)
            return self.head.loss(self.pooled_features(inputs), labels)
        if mode == 'predict':
            embeddings = self.extract_feat(inputs)
            for sample, embedding in zip(data_samples, embeddings):
                sample.set_field(embedding, 'pred_feature')
            return data_samples
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
