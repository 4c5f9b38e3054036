"""k-reciprocal re-ranking against the definitions of Zhong et al. (CVPR 2017), written
plainly with one loop per probe."""
import numpy as np
import pytest
import torch

from rga_mm.evaluation.functional import k_reciprocal_rerank, pairwise_distance


def plain_rerank(query_gallery, query_query, gallery_gallery, k1, k2, lambda_value):
    num_query = query_gallery.shape[0]
    dist = np.block([[query_query, query_gallery], [query_gallery.T, gallery_gallery]])
    dist = dist.astype(np.float64)**2
    dist = dist / dist.max(axis=1, keepdims=True)  # the matrices are symmetric
    num = dist.shape[0]
    ranking = np.argsort(dist, axis=1, kind='stable')

    def nearest(p, k):  # N(p, k), p itself included
        return set(ranking[p, :k + 1].tolist())

    def reciprocal(p, k):  # R(p, k)
        return {q for q in nearest(p, k) if p in nearest(q, k)}

    encoding = np.zeros((num, num))
    for p in range(num):
        expanded = set(reciprocal(p, k1))
        for q in reciprocal(p, k1):
            candidate = reciprocal(q, int(np.around(k1 / 2)))
            if len(candidate & reciprocal(p, k1)) > 2 / 3 * len(candidate):
                expanded |= candidate
        members = sorted(expanded)
        weights = np.exp(-dist[p, members])
        encoding[p, members] = weights / weights.sum()
    encoding = np.stack([encoding[ranking[p, :k2]].mean(axis=0) for p in range(num)])
    jaccard = np.array([[1 - np.minimum(encoding[p], encoding[g]).sum() /
                         np.maximum(encoding[p], encoding[g]).sum()
                         for g in range(num_query, num)] for p in range(num_query)])
    return (1 - lambda_value) * jaccard + lambda_value * dist[:num_query, num_query:]


@pytest.mark.parametrize('k1, k2', [(4, 3), (6, 1), (20, 6)])
def test_matches_the_paper_definitions(k1, k2):
    generator = torch.Generator().manual_seed(k1)
    query = torch.randn(7, 5, generator=generator)
    gallery = torch.randn(30, 5, generator=generator)
    distances = [pairwise_distance(a, b, 'euclidean').double().numpy()
                 for a, b in ((query, gallery), (query, query), (gallery, gallery))]
    expected = plain_rerank(*distances, k1=k1, k2=k2, lambda_value=0.3)
    result = k_reciprocal_rerank(*distances, k1=k1, k2=k2, lambda_value=0.3)
    assert result.shape == (7, 30)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_lambda_one_returns_the_normalised_squared_distance():
    query_gallery = np.array([[1.0, 2.0]])
    result = k_reciprocal_rerank(query_gallery, np.zeros((1, 1)),
                                 np.array([[0.0, 3.0], [3.0, 0.0]]), k1=1, k2=1,
                                 lambda_value=1.0)
    # the query's row of the joint matrix is [0, 1, 2], squared and divided by its max 4
    np.testing.assert_allclose(result, [[0.25, 1.0]])
