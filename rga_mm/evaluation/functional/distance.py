"""Distances between re-ID embeddings."""
import torch
import torch.nn.functional as F

DISTANCES = ('cosine', 'euclidean')


def pairwise_distance(query: torch.Tensor, gallery: torch.Tensor,
                      metric: str = 'cosine') -> torch.Tensor:
    """Distance of every query embedding to every gallery embedding.

    Args:
        query: (Q, D) embeddings.
        gallery: (G, D) embeddings.
        metric: ``'cosine'`` (1 - cosine similarity, in [0, 2]) or ``'euclidean'``
            (the L2 distance, not its square).

    Returns:
        (Q, G) float32 distances.
    """
    if metric not in DISTANCES:
        raise ValueError(f'metric must be one of {DISTANCES}, got {metric!r}')
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f'expected (Q, D) and (G, D) embeddings, got shapes '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')
    query, gallery = query.float(), gallery.float()
    if metric == 'cosine':
        return 1 - F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).T
    squared = (query.pow(2).sum(1, keepdim=True) + gallery.pow(2).sum(1)
               - 2 * query @ gallery.T)
    return squared.clamp_(min=0).sqrt_()
