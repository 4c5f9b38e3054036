"""The BNNeck re-ID head of the official RGA model (paper §4.1.1).

pooled feature f (pre-BN) → BatchNorm1d with a frozen zero bias → f_bn (post-BN)
→ Linear without bias (weights ~ N(0, 0.001²)) → identity logits.
Training: CE with label smoothing on the logits + batch-hard triplet on f, 1:1.
Test: the embedding is f or f_bn (``test_feature``).
"""

from mmengine.model import BaseModule
from torch import Tensor, nn

from rga_mm.checks import is_positive_int
from rga_mm.errors import ConfigError, closest_choice
from rga_mm.registry import MODELS

TEST_FEATURES = ('pre_bn', 'post_bn')


@MODELS.register_module()
class BNNeckHead(BaseModule):
    """BNNeck head: (B, C) pooled features → losses or test embeddings.

    Args:
        in_channels: C, the pooled feature width (2048 for ResNet-50), a positive int.
        num_classes: number of training identities, a positive int.
        loss_cls: identity loss on the post-BN logits.
        loss_triplet: metric loss on the pre-BN feature.
        test_feature: ``'pre_bn'`` or ``'post_bn'`` embedding at test time.

    Raises:
        ConfigError: at build, an ``in_channels`` or ``num_classes`` that is not an integer
            of 1 or more (a float, a string or a bool included), or an unknown
            ``test_feature``; at the first forward, pooled features of another width than
            ``in_channels``. One sentence naming the ``model.head`` key to set.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 loss_cls: dict = dict(type='mmpretrain.LabelSmoothLoss',
                                       label_smooth_val=0.1, mode='original'),
                 loss_triplet: dict = dict(type='BatchHardTripletLoss', margin=0.3),
                 test_feature: str = 'post_bn',
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if not is_positive_int(in_channels):
            raise ConfigError(f'BNNeckHead: in_channels is the width C of the (B, C) pooled '
                              f'features it takes, a positive int, got {in_channels!r}; set '
                              f'model.head.in_channels to the channels of the backbone\'s '
                              f'last map (512 for ResNet-18, 2048 for ResNet-50)')
        if not is_positive_int(num_classes):
            raise ConfigError(f'BNNeckHead: num_classes is the number of training identities '
                              f'(one classifier output each), a positive int, got '
                              f'{num_classes!r}; set model.head.num_classes to the number of '
                              f'identities in the training data, as an int')
        if test_feature not in TEST_FEATURES:
            close = closest_choice(test_feature, TEST_FEATURES)
            fix = (f'did you mean {close!r}?' if close else
                   "set model.head.test_feature to 'post_bn' (the default) or 'pre_bn'")
            raise ConfigError(f"BNNeckHead: test_feature (model.head.test_feature) is the "
                              f"embedding evaluated, 'pre_bn' (before the BatchNorm) or "
                              f"'post_bn' (after it), got {test_feature!r}; {fix}")
        in_channels, num_classes = int(in_channels), int(num_classes)
        self.test_feature = test_feature
        self.num_classes = num_classes  # as mmpretrain's heads keep it
        self.feat_bn = nn.BatchNorm1d(in_channels)
        self.feat_bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_triplet = MODELS.build(loss_triplet)

    def forward(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C) → (pre-BN feature, post-BN feature), both (B, C).

        Raises:
            ConfigError: ``pooled`` is (B, C') with C' other than ``in_channels`` (on the
                ``meta`` device too, where the pre-training checks run the model).
        """
        expected = self.feat_bn.num_features
        if pooled.dim() >= 2 and pooled.shape[1] != expected:
            actual = int(pooled.shape[1])
            raise ConfigError(f'BNNeckHead was built for pooled features of {expected} '
                              f'channels (model.head.in_channels={expected}) but the backbone '
                              f'and neck give it {actual}: set '
                              f'model.head.in_channels={actual}')
        return pooled, self.feat_bn(pooled)

    def embed(self, pooled: Tensor) -> Tensor:
        """The test embedding (B, C)."""
        pre_bn, post_bn = self(pooled)
        return pre_bn if self.test_feature == 'pre_bn' else post_bn

    def loss(self, pooled: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Identity and triplet losses for (B, C) features of identities ``labels`` (B,)."""
        pre_bn, post_bn = self(pooled)
        logits = self.classifier(post_bn)
        if labels.max() >= logits.shape[1]:
            raise ConfigError(f'identity label {int(labels.max())} is out of range for a '
                              f'classifier of {logits.shape[1]} identities: set the head\'s '
                              f'num_classes to the number of training identities')
        return dict(loss_cls=self.loss_cls(logits, labels),
                    loss_triplet=self.loss_triplet(pre_bn, labels),
                    accuracy=(logits.argmax(1) == labels).float().mean().detach())
