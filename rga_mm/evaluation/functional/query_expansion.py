"""Average query expansion (AQE) of re-ID query embeddings, before ranking.

Each query embedding q is replaced by the weighted mean of itself and its k nearest gallery
embeddings g_1..g_k (by cosine similarity s_i = cos(q, g_i)), then L2-normalised:

    q' = normalise( (q̂ + Σ_i w_i ĝ_i) / (1 + Σ_i w_i) ),   w_i = max(s_i, 0) ** alpha,

where x̂ = x / ‖x‖. This is the α-weighted query expansion (αQE) of Radenović, Tolias and
Chum, "Fine-tuning CNN Image Retrieval with No Human Annotation", TPAMI 2018, §5; the query's
own weight is cos(q, q) ** alpha = 1. ``alpha=0`` gives the plain average of Chum et al.,
"Total Recall", ICCV 2007. Defaults (k = 5, alpha = 3) follow fast-reid's ``TEST.AQE``.

How it differs from fast-reid's ``fastreid/evaluation/query_expansion.py::aqe``: there every
query *and gallery* embedding is expanded, over its k nearest among queries and gallery
together (itself included, so k - 1 others), averaging the raw embeddings; here only the
queries are expanded, over gallery neighbours only (a query never borrows from another
query), with unit-length embeddings, and negative similarities weigh 0 (fast-reid's
``sim ** alpha`` subtracts them for odd alpha and is NaN for a fractional one).

The nearest neighbours break ties by gallery order, as the ranking does
(``rank.py``): of several gallery items at the k-th similarity, the earliest are taken.
"""
import torch
import torch.nn.functional as F

# query rows expanded at once: the (rows, G) similarity block stays near 16 MiB in float32
MAX_BLOCK_ELEMENTS = 4 * 2**20


def average_query_expansion(query: torch.Tensor, gallery: torch.Tensor, k: int = 5,
                            alpha: float = 3.0) -> torch.Tensor:
    """Expanded, unit-length query embeddings (the formula of the module docstring).

    Args:
        query: (Q, D) query embeddings.
        gallery: (G, D) gallery embeddings.
        k: gallery neighbours averaged into each query (at most G are used).
        alpha: exponent of the cosine-similarity weights; 0 for a plain mean.

    Returns:
        (Q, D) float32 L2-normalised embeddings.
    """
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f'expected (Q, D) and (G, D) embeddings, got shapes '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')
    if k < 1:
        raise ValueError(f'query expansion needs k >= 1 gallery neighbours, got k={k}')
    if alpha < 0:
        raise ValueError(f'query expansion needs alpha >= 0, got alpha={alpha}')
    bad = {name: int((~torch.isfinite(e)).any(dim=1).sum())
           for name, e in (('query', query), ('gallery', gallery))}
    if any(bad.values()):
        raise ValueError(f"query expansion got {bad['query']} query and {bad['gallery']} "
                         f'gallery embeddings with NaN or infinite values; they have no '
                         f'neighbours: check the model that produced them')
    query = F.normalize(query.float(), dim=1)
    gallery = F.normalize(gallery.float(), dim=1)
    k = min(k, gallery.shape[0])
    rows_per_block = max(1, MAX_BLOCK_ELEMENTS // max(1, gallery.shape[0]))
    expanded = []
    for start in range(0, query.shape[0], rows_per_block):
        block = query[start:start + rows_per_block]
        similarity = block @ gallery.T
        neighbours = _nearest_first_on_ties(similarity, k)  # (rows, k)
        weights = similarity.gather(1, neighbours).clamp(min=0).pow(alpha)  # 0 ** 0 = 1
        total = block + (weights[..., None] * gallery[neighbours]).sum(dim=1)
        expanded.append(total / (1 + weights.sum(dim=1, keepdim=True)))
    return F.normalize(torch.cat(expanded), dim=1)


def _nearest_first_on_ties(similarity: torch.Tensor, k: int) -> torch.Tensor:
    """(rows, k) column indices of each row's k largest values; of the columns tied at the
    k-th largest value, the earliest are taken."""
    kth_value = similarity.topk(k, dim=1).values[:, -1:]
    above = similarity > kth_value
    tied = similarity == kth_value
    needed = k - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (tied.cumsum(dim=1) <= needed))
    columns = chosen.nonzero()[:, 1].view(similarity.shape[0], k)  # row-major: per row
    order = similarity.gather(1, columns).argsort(dim=1, descending=True, stable=True)
    return columns.gather(1, order)
