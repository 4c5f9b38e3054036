"""One Euclidean distance for the evaluation, re-ranking and the triplet loss
(``rga_mm.evaluation.functional.distance``): √(‖x‖² + ‖y‖² − 2 x·y), floored at 0."""
import torch

from rga_mm.evaluation.functional import pairwise_distance
from rga_mm.evaluation.functional.distance import euclidean_distance, euclidean_from_dots
from rga_mm.evaluation.functional.joint_distance import EmbeddingDistances


def features(rows: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, 16, generator=torch.Generator().manual_seed(seed))


def test_is_the_l2_distance():
    query, gallery = features(9, 0), features(13, 1)
    torch.testing.assert_close(pairwise_distance(query, gallery, 'euclidean'),
                               torch.cdist(query, gallery), rtol=1e-5, atol=1e-5)


def test_autograd_and_in_place_paths_agree_to_the_bit():
    """With a gradient the result is computed out of place, without one in place in the dot
    products; the two give the same numbers."""
    query, gallery = features(9, 0), features(13, 1)
    tracked = euclidean_distance(query.requires_grad_(), gallery)
    assert tracked.requires_grad
    assert torch.equal(tracked.detach(), euclidean_distance(query.detach(), gallery))


def test_rounding_below_zero_gives_zero_or_the_floor():
    dots = torch.tensor([[1.0 + 1e-6]])  # ‖x‖² = ‖y‖² = 1: squared distance -2e-6
    norms = torch.ones(1)
    assert euclidean_from_dots(dots.clone(), norms, norms).item() == 0.0
    floored = euclidean_from_dots(dots.clone(), norms, norms, min_squared=1e-12)
    assert floored.item() == torch.tensor(1e-12).sqrt().item()


def test_re_ranking_blocks_are_the_evaluation_distances():
    query, gallery = features(5, 2), features(7, 3)
    joint = EmbeddingDistances(query, gallery, 'euclidean')
    torch.testing.assert_close(joint.block(slice(0, 5), slice(5, 12)),
                               pairwise_distance(query, gallery, 'euclidean'))
