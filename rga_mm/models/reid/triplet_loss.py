"""Triplet loss with batch-hard mining (Hermans et al., "In Defense of the Triplet Loss").

mmpretrain and mmengine ship no metric-learning loss for identity batches, so rga_mm has its
own: for every anchor of a P×K batch the farthest positive and the nearest negative, in
Euclidean distance, enter a margin ranking loss (paper §4.1, margin 0.3).
"""
import torch
from torch import Tensor, nn

from rga_mm.registry import MODELS


def pairwise_euclidean(features: Tensor) -> Tensor:
    """(B, D) → (B, B) Euclidean distances, with a gradient that stays finite at 0."""
    squared = features.pow(2).sum(dim=1)
    distances = squared[:, None] + squared[None, :] - 2 * features @ features.t()
    return distances.clamp(min=1e-12).sqrt()


@MODELS.register_module()
class BatchHardTripletLoss(nn.Module):
    """mean_a max(0, d(a, hardest positive) − d(a, hardest negative) + margin).

    Args:
        margin: the ranking margin (0.3 in the paper's recipe).
        loss_weight: factor applied to the loss.
    """

    def __init__(self, margin: float = 0.3, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """features (B, D), labels (B,) identities → scalar loss."""
        if labels.unique().numel() < 2:
            raise ValueError('batch-hard triplet loss needs at least two identities in a '
                             f'batch, got labels {labels.tolist()}')
        distances = pairwise_euclidean(features)
        same = labels[:, None] == labels[None, :]
        hardest_positive = distances.masked_fill(~same, 0).amax(dim=1)
        hardest_negative = distances.masked_fill(same, float('inf')).amin(dim=1)
        losses = torch.relu(hardest_positive - hardest_negative + self.margin)
        return self.loss_weight * losses.mean()
