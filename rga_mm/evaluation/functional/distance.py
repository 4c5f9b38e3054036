"""Distances between re-ID embeddings: the evaluation's, the re-ranking's and the triplet
loss's Euclidean distance all come from :func:`euclidean_from_dots`."""
import torch.nn.functional as F
from torch import Tensor

from rga_mm.errors import ConfigError

DISTANCES = ('cosine', 'euclidean')


def check_distance(distance: str, name: str = 'metric') -> None:
    """A ConfigError (a ValueError) unless ``distance`` is one of :data:`DISTANCES`; ``name``
    is the argument or setting that gave it."""
    if distance not in DISTANCES:
        raise ConfigError(f'{name} must be one of {DISTANCES}, got {distance!r}')


def euclidean_from_dots(dots: Tensor, row_squared_norms: Tensor, column_squared_norms: Tensor,
                        min_squared: float = 0.0) -> Tensor:
    """‖x_i − y_j‖ = √(‖x_i‖² + ‖y_j‖² − 2 x_i·y_j) from the dot products and the norms.

    Rounding can make a squared distance slightly negative; it is clamped to ``min_squared``
    before the square root. The root's gradient is infinite at 0, so a loss that
    differentiates the distances (the triplet loss) passes a small positive ``min_squared``;
    the evaluation passes 0.

    Args:
        dots: (n, m) dot products x_i·y_j; overwritten with the result unless it requires
            a gradient.
        row_squared_norms: (n, ) ‖x_i‖², or (n, 1).
        column_squared_norms: (m, ) ‖y_j‖².
        min_squared: the least squared distance.

    Returns:
        (n, m) distances.
    """
    rows = row_squared_norms.reshape(-1, 1)
    if dots.requires_grad:  # autograd records it: no in-place op
        squared = dots * -2 + rows + column_squared_norms
        return squared.clamp(min=min_squared).sqrt()
    squared = dots.mul_(-2).add_(rows).add_(column_squared_norms)
    return squared.clamp_(min=min_squared).sqrt_()


def euclidean_distance(x: Tensor, y: Tensor, min_squared: float = 0.0) -> Tensor:
    """(n, D), (m, D) → (n, m) Euclidean distances, by :func:`euclidean_from_dots`."""
    return euclidean_from_dots(x @ y.T, x.pow(2).sum(dim=1), y.pow(2).sum(dim=1), min_squared)


def pairwise_distance(query: Tensor, gallery: Tensor, metric: str = 'cosine') -> Tensor:
    """Distance of every query embedding to every gallery embedding.

    Args:
        query: (Q, D) embeddings.
        gallery: (G, D) embeddings.
        metric: ``'cosine'`` (1 - cosine similarity, in [0, 2]) or ``'euclidean'``
            (the L2 distance, not its square).

    Returns:
        (Q, G) float32 distances.
    """
    check_distance(metric)
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f'expected (Q, D) and (G, D) embeddings, got shapes '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')
    query, gallery = query.float(), gallery.float()
    if metric == 'cosine':
        return 1 - F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).T
    return euclidean_distance(query, gallery)
