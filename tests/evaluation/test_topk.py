"""Exact top-k retrieval a block at a time (``rga_mm.evaluation.functional.topk``).

Its lists must be the evaluation's ranking cut at k (docs/reid.md, "Evaluation protocol":
ascending distance, ties to the earlier gallery item, junk and same-camera images of the query's
identity removed), whatever the block and chunk sizes, and its work memory must stay within
its budget, never forming the (Q, G) matrix.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from rga_mm.evaluation.functional import distance_topk, gallery_topk, pairwise_distance
from rga_mm.evaluation.functional.topk import square_topk
from rga_mm.testing import TensorMemoryTracker, load_script

BENCHMARK = Path(__file__).parents[2] / 'tools/analysis_tools/benchmark_search.py'
BUDGETS = (1, 2**12, 2**16, 2**30)  # one query × one gallery row per block ... one block


def stable_reference(distmat: np.ndarray, k: int, removed: np.ndarray = None):
    """The evaluation's order: a stable sort of each row, removed items dropped."""
    values, indices = [], []
    for row in range(distmat.shape[0]):
        order = np.argsort(distmat[row], kind='stable')
        if removed is not None:
            order = order[~removed[row, order]]
        order = order[:k]
        padded = np.full(k, -1)
        padded[:order.size] = order
        indices.append(padded)
        values.append(np.where(padded >= 0, distmat[row, np.maximum(padded, 0)], np.inf))
    return np.array(values, np.float32), np.array(indices)


def integer_features(num: int, dim: int, seed: int) -> torch.Tensor:
    """Small integers: Euclidean distances are exact in float32 whatever the summation
    order, and many of them are equal (ties)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (num, dim), generator=generator).float()


@pytest.mark.parametrize('budget', BUDGETS)
def test_ties_go_to_the_earlier_gallery_item(budget):
    query, gallery = integer_features(7, 4, 0), integer_features(60, 4, 1)
    gallery[30:40] = gallery[5]  # exact duplicates spread over blocks
    distmat = pairwise_distance(query, gallery, 'euclidean').numpy()
    assert len(np.unique(distmat)) < distmat.size / 4  # plenty of ties
    for k in (1, 5, 17, 60):
        values, indices = gallery_topk(query, gallery, k, 'euclidean', max_chunk_bytes=budget)
        ref_values, ref_indices = stable_reference(distmat, k)
        assert torch.equal(indices, torch.from_numpy(ref_indices)), (k, budget)
        assert torch.equal(values, torch.from_numpy(ref_values))


@pytest.mark.parametrize('symmetric', [True, False])
@pytest.mark.parametrize('tile', [1, 7, 25, 60])
def test_square_topk_lists_items_among_themselves_ties_first_by_index(tile, symmetric):
    """The nearest of 60 items among themselves (re-ranking's neighbourhoods): the full
    matrix sorted stably, whether a tile stands for its transpose or both are computed."""
    items = integer_features(60, 4, 3)
    items[30:40] = items[5]  # exact duplicates spread over tiles
    distmat = pairwise_distance(items, items, 'euclidean')
    calls = []

    def block(rows, columns):
        calls.append((rows.start, columns.start))
        return distmat[rows, columns].clone()

    for k in (1, 12, 60):
        calls.clear()
        values, indices = square_topk(block, 60, k, tile, symmetric)
        ref_values, ref_indices = stable_reference(distmat.numpy(), k)
        assert torch.equal(indices, torch.from_numpy(ref_indices)), (k, tile)
        assert torch.equal(values, torch.from_numpy(ref_values))
        tiles = -(-60 // tile)
        assert len(calls) == (tiles * (tiles + 1) // 2 if symmetric else tiles**2)


@pytest.mark.parametrize('budget', BUDGETS)
def test_cosine_lists_are_the_full_matrix_sorted(budget):
    generator = torch.Generator().manual_seed(2)
    query, gallery = torch.randn(13, 32, generator=generator), torch.randn(300, 32,
                                                                          generator=generator)
    distmat = pairwise_distance(query, gallery, 'cosine').numpy()
    values, indices = gallery_topk(query, gallery, 10, max_chunk_bytes=budget)
    ref_values, ref_indices = stable_reference(distmat, 10)
    assert torch.equal(indices, torch.from_numpy(ref_indices))
    torch.testing.assert_close(values, torch.from_numpy(ref_values), rtol=0, atol=1e-6)


@pytest.mark.parametrize('budget', BUDGETS)
def test_the_protocol_removes_junk_and_same_camera_matches(budget):
    query, gallery = integer_features(6, 3, 3), integer_features(40, 3, 4)
    rng = np.random.default_rng(0)
    query_ids, query_cams = rng.integers(1, 4, 6), rng.integers(0, 3, 6)
    gallery_ids, gallery_cams = rng.integers(-1, 4, 40), rng.integers(0, 3, 40)
    # query 0: every gallery item but two is junk or its own identity in its own camera
    gallery_ids[2:], gallery_cams[2:] = np.where(np.arange(38) % 2, -1, query_ids[0]), \
        np.where(np.arange(38) % 2, gallery_cams[2:], query_cams[0])
    removed = (gallery_ids[None] == -1) | ((gallery_ids[None] == query_ids[:, None])
                                           & (gallery_cams[None] == query_cams[:, None]))
    distmat = pairwise_distance(query, gallery, 'euclidean').numpy()
    values, indices = gallery_topk(query, gallery, 8, 'euclidean', query_ids, gallery_ids,
                                   query_cams, gallery_cams, max_chunk_bytes=budget)
    ref_values, ref_indices = stable_reference(distmat, 8, removed)
    assert torch.equal(indices, torch.from_numpy(ref_indices))
    assert torch.equal(values, torch.from_numpy(ref_values))
    # query 0 has 2 items left: its list ends in -1 / inf
    assert (indices[0, 2:] == -1).all() and torch.isinf(values[0, 2:]).all()
    assert not removed[np.arange(6)[:, None], np.maximum(indices.numpy(), 0)][
        indices.numpy() >= 0].any()


def test_distance_topk_ranks_a_given_matrix_and_leaves_it_unchanged():
    distmat = np.round(np.random.default_rng(5).random((9, 50), np.float32), 1)  # ties
    before = distmat.copy()
    for budget in BUDGETS:
        values, indices = distance_topk(distmat, 12, max_chunk_bytes=budget)
        ref_values, ref_indices = stable_reference(distmat, 12)
        assert torch.equal(indices, torch.from_numpy(ref_indices))
        assert torch.equal(values, torch.from_numpy(ref_values))
    assert np.array_equal(distmat, before)


def test_work_memory_stays_within_the_budget():
    """Nothing of the gallery's size: the tensors created during the search stay within the
    budget, although the distance matrix would be 11 times and a normalised copy of the
    gallery 5 times as large."""
    generator = torch.Generator().manual_seed(6)
    query, gallery = torch.randn(300, 128, generator=generator), torch.randn(
        20000, 128, generator=generator)
    budget = 2 * 2**20
    with TensorMemoryTracker(record_shapes=True) as tracker:
        values, indices = gallery_topk(query, gallery, 10, max_chunk_bytes=budget)
    assert 300 * 20000 * 4 > 10 * budget and gallery.nbytes > 4 * budget
    assert tracker.peak_bytes <= budget + values.nbytes + indices.nbytes, tracker.peak_bytes
    assert not [shape for shape in tracker.shapes if 20000 in shape]
    ref_values, ref_indices = stable_reference(
        pairwise_distance(query, gallery).numpy(), 10)
    assert torch.equal(indices, torch.from_numpy(ref_indices))


def test_the_benchmark_compares_like_with_like(capsys):
    """tools/analysis_tools/benchmark_search.py at a small size: both ways give the same
    lists, and the blockwise way needs a fraction of the full matrix's memory."""
    module = load_script(BENCHMARK, 'benchmark_search')
    module.main(['--num-gallery', '20000', '--num-query', '100', '--dim', '64',
                 '--max-chunk-mib', '1', '--repeat', '1'])
    printed = capsys.readouterr().out
    assert 'same top-10 lists: True' in printed
    rows = [line.split('|') for line in printed.splitlines() if line.startswith('| ')][1:]
    blockwise, full = (float(row[3]) for row in rows)
    assert blockwise <= 1 < 7 <= full  # MiB: within the budget; 100 × 20,000 × 4 bytes


def test_bad_arguments_are_named():
    query, gallery = torch.randn(2, 4), torch.randn(5, 4)
    with pytest.raises(ValueError, match='between 1 and the gallery size 5, got 6'):
        gallery_topk(query, gallery, 6)
    with pytest.raises(ValueError, match=r'\(Q, D\) and \(G, D\).*\(2, 4\) and \(5, 3\)'):
        gallery_topk(query, gallery[:, :3], 1)
    nan_gallery = gallery.clone()
    nan_gallery[3, 1] = float('nan')
    with pytest.raises(ValueError, match='distance of query 0 to gallery item 3 is NaN'):
        gallery_topk(query, nan_gallery, 1)
    with pytest.raises(ValueError, match='distance of query 1 to gallery item 0 is NaN'):
        distance_topk(np.array([[0, 1], [np.nan, 2]], np.float32), 1)
    with pytest.raises(ValueError, match='all four'):
        gallery_topk(query, gallery, 1, query_ids=np.array([1, 2]))
    with pytest.raises(ValueError, match='gallery_cams must be 5 integers'):
        gallery_topk(query, gallery, 1, 'cosine', [1, 2], [1] * 5, [0, 0], [0.0] * 5)
    with pytest.raises(ValueError, match='gallery is empty'):
        distance_topk(np.zeros((2, 0), np.float32), 1)
