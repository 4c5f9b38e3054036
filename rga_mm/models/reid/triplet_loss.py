"""Triplet loss with batch-hard mining (Hermans et al., "In Defense of the Triplet Loss").

mmpretrain and mmengine ship no metric-learning loss for identity batches, so rga_mm has its
own: for every anchor of a P×K batch the farthest positive and the nearest negative, in
Euclidean distance, enter a margin ranking loss (paper §4.1, margin 0.3).
"""
import math

import torch
from torch import Tensor, nn

from rga_mm.checks import is_number
from rga_mm.errors import ConfigError
from rga_mm.evaluation.functional.distance import euclidean_distance
from rga_mm.registry import MODELS

# squared distances are clamped to at least this before the square root, so that its gradient
# stays finite where two features coincide (the anchor with itself, duplicates)
MIN_SQUARED_DISTANCE = 1e-12


@MODELS.register_module()
class BatchHardTripletLoss(nn.Module):
    """mean_a max(0, d(a, hardest positive) − d(a, hardest negative) + margin).

    Args:
        margin: the ranking margin, a finite number of 0 or more (0.3 in the paper's
            recipe).
        loss_weight: factor applied to the loss, a finite number of 0 or more (0 turns the
            loss off; below 0 training would maximise it).

    Raises:
        ConfigError: ``margin`` or ``loss_weight`` is not a finite number of 0 or more (a
            bool, a string or None included), in one sentence naming it.
    """

    def __init__(self, margin: float = 0.3, loss_weight: float = 1.0) -> None:
        super().__init__()
        if not (is_number(margin) and 0 <= margin < math.inf):
            raise ConfigError(f'BatchHardTripletLoss: margin is how much farther than the '
                              f'hardest positive the hardest negative must be, a finite '
                              f'number of 0 or more, got {margin!r}; set it to e.g. 0.3, the '
                              f'paper\'s margin')
        if not (is_number(loss_weight) and 0 <= loss_weight < math.inf):
            raise ConfigError(f'BatchHardTripletLoss: loss_weight is the factor of the loss, '
                              f'a finite number of 0 or more (below 0 training would '
                              f'maximise the loss), got {loss_weight!r}; set it to e.g. 1.0')
        self.margin = float(margin)
        self.loss_weight = float(loss_weight)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """features (B, D), labels (B,) identities → scalar loss."""
        if labels.unique().numel() < 2:
            raise ValueError('batch-hard triplet loss needs at least two identities in a '
                             f'batch, got labels {labels.tolist()}')
        distances = euclidean_distance(features, features, MIN_SQUARED_DISTANCE)  # (B, B)
        same = labels[:, None] == labels[None, :]
        hardest_positive = distances.masked_fill(~same, 0).amax(dim=1)
        hardest_negative = distances.masked_fill(same, float('inf')).amin(dim=1)
        losses = torch.relu(hardest_positive - hardest_negative + self.margin)
        return self.loss_weight * losses.mean()
