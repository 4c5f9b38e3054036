"""Relation features of RGA (paper §3.2, Eq. 1-2) as pure tensor functions.

For one branch, nodes carry embedded features Θ = θ(X) and Φ = φ(X) of shape (B, d, M) for
M nodes. The paper's affinity matrix is R = Θᵀ Φ (Eq. 1, no softmax, no scaling) and the
relation feature of node p is r_p = [R(p, :), R(:, p)] ∈ R^{2N}: row first, then column.
The relation embedding ϕ is a 1×1 convolution of r_p with weight W = [W_row | W_col]
(each n' × N) and bias b followed by BN and ReLU; the functions here return the pre-BN
response

    Z = W_row · R(p, :)ᵀ + W_col · R(:, p) + b    for every node p, shape (B, n', M).

(An eval-mode BN is affine, so callers may fold it into W and b.)

Relations may be taken against a *reference grid* of N nodes (Θ_ref, Φ_ref, shape (B, d, N))
instead of the M nodes themselves: R_row = Θᵀ Φ_ref (M × N), R_col = Θ_refᵀ Φ (N × M).
With Θ_ref = Θ and Φ_ref = Φ (N = M) this is exactly the paper's relation.

Two equal ways to compute Z:

* :func:`dense_relation_response` materialises R and the 2N-channel relation map, as the
  paper and the official code do; cost N²·d + 2·n'·N² multiply-adds per image.
* :func:`factorized_relation_response` uses that ϕ is linear before its BN:
  Z = (W_row Φ_refᵀ) Θ + (W_col Θ_refᵀ) Φ, cost 4·n'·d·N, and never forms an N×N tensor.
"""

import torch
from torch import Tensor


def _split_relation_weight(weight: Tensor, num_reference: int) -> tuple[Tensor, Tensor]:
    """Split ϕ's 1×1 conv weight (n', 2N[, 1, 1]) into W_row and W_col, each (n', N)."""
    weight = weight.reshape(weight.shape[0], -1)
    if weight.shape[1] != 2 * num_reference:
        raise ValueError(
            f'the relation embedding reads {weight.shape[1]} relation channels, but a grid of '
            f'{num_reference} reference nodes gives {2 * num_reference}')
    return weight[:, :num_reference], weight[:, num_reference:]


def relation_map(theta: Tensor, phi: Tensor, theta_ref: Tensor, phi_ref: Tensor) -> Tensor:
    """Stack every node's relations with the reference nodes, as the paper does.

    Args:
        theta, phi: node embeddings Θ, Φ, shape (B, d, M).
        theta_ref, phi_ref: reference-grid embeddings, shape (B, d, N).

    Returns:
        Tensor (B, 2N, M): channel k < N of node p is R_row(p, k) = θ_pᵀ φ_ref,k, channel
        N + k is R_col(k, p) = θ_ref,kᵀ φ_p.
    """
    if theta_ref is theta and phi_ref is phi:  # the paper's case: one R = Θᵀ Φ
        cols = torch.matmul(theta.transpose(1, 2), phi)  # (B, N, N): [k, p] = R(k, p)
        rows = cols.transpose(1, 2)  # [k, p] = R(p, k)
    else:
        rows = torch.matmul(phi_ref.transpose(1, 2), theta)  # [k, p] = φ_ref,k · θ_p
        cols = torch.matmul(theta_ref.transpose(1, 2), phi)  # [k, p] = θ_ref,k · φ_p
    return torch.cat((rows, cols), dim=1)


def dense_relation_response(theta: Tensor, phi: Tensor, theta_ref: Tensor, phi_ref: Tensor,
                            weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """ϕ's pre-BN response computed through the materialised relation map.

    Args:
        theta, phi: (B, d, M). theta_ref, phi_ref: (B, d, N).
        weight: ϕ's conv weight, (n', 2N) or (n', 2N, 1, 1).
        bias: ϕ's bias (n',), or None.

    Returns:
        Tensor (B, n', M).
    """
    w_row, w_col = _split_relation_weight(weight, theta_ref.shape[-1])
    response = torch.matmul(torch.cat((w_row, w_col), dim=1),
                            relation_map(theta, phi, theta_ref, phi_ref))
    return response if bias is None else response + bias.to(response.dtype).unsqueeze(-1)


def factorized_relation_response(theta: Tensor, phi: Tensor, theta_ref: Tensor,
                                 phi_ref: Tensor, weight: Tensor,
                                 bias: Tensor | None = None) -> Tensor:
    """ϕ's pre-BN response without forming R, as one product (bias included)::

        Zᵀ = [Θ; Φ; 1]ᵀ · [Φ_ref W_rowᵀ; Θ_ref W_colᵀ; bᵀ]        (B, M, n')

    Args and returns as :func:`dense_relation_response`; the largest intermediate is
    (B, 2d + 1, M). The result is node-major in memory (a transposed (B, M, n') tensor), so
    a 1×1 convolution reads it as a channels-last map.
    """
    w_row, w_col = _split_relation_weight(weight, theta_ref.shape[-1])
    projections = [torch.matmul(phi_ref, w_row.t()),  # (B, d, n')
                   torch.matmul(theta_ref, w_col.t())]
    nodes = [theta, phi]  # (B, d, M)
    if bias is not None:
        projections.append(bias.to(projections[0].dtype).expand(theta.shape[0], 1, -1))
        nodes.append(theta.new_ones(theta.shape[0], 1, theta.shape[2]))
    response = torch.matmul(torch.cat(nodes, dim=1).transpose(1, 2),
                            torch.cat(projections, dim=1))
    return response.transpose(1, 2)


RELATION_PATHS = {
    'dense': dense_relation_response,
    'factorized': factorized_relation_response,
}
