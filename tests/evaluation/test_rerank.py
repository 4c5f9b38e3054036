"""k-reciprocal re-ranking against the definitions of Zhong et al. (CVPR 2017), written
plainly with one loop per probe, on the dense (Q + G)² matrix; the implementation must give
the same distances from the embeddings, a chunk of queries at a time, without that matrix."""
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from rga_mm.evaluation.functional import (
    RankAccumulator,
    k_reciprocal_rerank,
    k_reciprocal_rerank_chunks,
    pairwise_distance,
    rank_metrics,
    with_progress,
)
from rga_mm.testing import TensorMemoryTracker, load_script

BENCHMARK = Path(__file__).parents[2] / 'tools/analysis_tools/benchmark_rerank.py'


def plain_rerank(query_gallery, query_query, gallery_gallery, k1, k2, lambda_value):
    num_query = query_gallery.shape[0]
    dist = np.block([[query_query, query_gallery], [query_gallery.T, gallery_gallery]])
    dist = dist.astype(np.float64)**2
    dist = dist / dist.max(axis=1, keepdims=True)  # the matrices are symmetric
    num = dist.shape[0]
    encoding = plain_encoding(dist, k1, k2)
    jaccard = np.array([[1 - np.minimum(encoding[p], encoding[g]).sum() /
                         np.maximum(encoding[p], encoding[g]).sum()
                         for g in range(num_query, num)] for p in range(num_query)])
    return (1 - lambda_value) * jaccard + lambda_value * dist[:num_query, num_query:]


def plain_encoding(dist, k1, k2):
    """The k-reciprocal encodings V of every image, after local query expansion, from the
    joint (N, N) normalised squared distances ``dist``, by the paper's definitions."""
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
    if k2 > 1:  # local query expansion; k2 = 1 turns it off
        encoding = np.stack([encoding[ranking[p, :k2]].mean(axis=0) for p in range(num)])
    return encoding


def distance_matrices(query, gallery, metric):
    """Query-gallery, query-query and gallery-gallery distances, as the evaluation's."""
    return [pairwise_distance(a, b, metric).double().numpy()
            for a, b in ((query, gallery), (query, query), (gallery, gallery))]


def clustered_features(num_query, num_gallery, dim, seed, integer=False):
    """Images of 6 identities around their centres; with ``integer``, small integers, whose
    distances are exact and often equal (ties)."""
    generator = torch.Generator().manual_seed(seed)
    if integer:
        return (torch.randint(0, 4, (num_query, dim), generator=generator).float(),
                torch.randint(0, 4, (num_gallery, dim), generator=generator).float())
    centres = 3 * torch.randn(6, dim, generator=generator)
    features = centres[torch.randint(0, 6, (num_query + num_gallery, ), generator=generator)]
    features += torch.randn(features.shape, generator=generator)
    return features[:num_query], features[num_query:]


@pytest.mark.parametrize('k1, k2', [(4, 3), (6, 1), (20, 6)])
def test_matches_the_paper_definitions(k1, k2):
    generator = torch.Generator().manual_seed(k1)
    query = torch.randn(7, 5, generator=generator)
    gallery = torch.randn(30, 5, generator=generator)
    distances = distance_matrices(query, gallery, 'euclidean')
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


@pytest.mark.parametrize('metric, k1, k2, lambda_value, integer', [
    ('euclidean', 20, 6, 0.3, False),  # the paper's setting
    ('cosine', 20, 6, 0.3, False),
    ('cosine', 7, 1, 0.5, False),  # no local query expansion
    ('euclidean', 12, 4, 0.0, True),  # Jaccard distance alone; many ties
    ('euclidean', 5, 3, 0.9, True),
])
def test_chunks_from_embeddings_match_the_definitions(metric, k1, k2, lambda_value, integer):
    """A budget for a few queries per chunk: 23 queries are not a multiple of it, and the
    neighbour pass works on tiles smaller than the 84 images. Distances within 1e-6 of the
    dense definitions; ranking metrics identical where the re-ranked distances have no
    ties (with ties, float rounding may order them either way)."""
    query, gallery = clustered_features(23, 61, 16, seed=k1, integer=integer)
    num_items = 23 + 61
    chunks = list(k_reciprocal_rerank_chunks(query, gallery, metric, k1, k2, lambda_value,
                                             max_memory_bytes=3 * 128 * num_items))
    sizes = [rows.stop - rows.start for rows, _ in chunks]
    assert [rows.start for rows, _ in chunks] == list(np.cumsum([0] + sizes[:-1]))
    assert sum(sizes) == 23 and len(chunks) > 2 and sizes[-1] < sizes[0]
    result = np.concatenate([distances for _, distances in chunks])
    assert result.dtype == np.float32

    expected = plain_rerank(*distance_matrices(query, gallery, metric), k1, k2, lambda_value)
    assert np.abs(result - expected).max() <= 1e-6
    if integer:
        return
    rng = np.random.default_rng(k1)
    labels = (rng.integers(0, 6, 23), rng.integers(0, 6, 61), rng.integers(0, 3, 23),
              rng.integers(0, 3, 61))
    accumulator = RankAccumulator(labels[1], labels[3])
    for rows, distances in chunks:
        accumulator.add(distances, labels[0][rows], labels[2][rows])
    streamed, whole = accumulator.result(), rank_metrics(expected, *labels)
    np.testing.assert_array_equal(streamed['cmc'], whole['cmc'])
    assert (streamed['mAP'], streamed['mINP']) == (whole['mAP'], whole['mINP'])


@pytest.mark.parametrize('metric', ['cosine', 'euclidean'])
def test_embeddings_and_distance_matrices_give_the_same_result(metric):
    """Larger than the definitions can check in a test: the chunked path from embeddings
    equals the re-ranking of the evaluation's distance matrices."""
    query, gallery = clustered_features(157, 1203, 24, seed=3)
    whole = k_reciprocal_rerank(*distance_matrices(query, gallery, metric))
    chunks = k_reciprocal_rerank_chunks(query, gallery, metric, max_memory_bytes=2**20)
    assert np.abs(np.concatenate([part for _, part in chunks]) - whole).max() <= 1e-6


@pytest.fixture
def one_torch_thread():
    """Small tiles: on a busy machine, waking a second thread costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_neither_the_joint_nor_the_query_gallery_matrix_is_formed(one_torch_thread):
    """The arrays alive at once, NumPy's and PyTorch's together, stay below a third of the
    (Q, G) float32 matrix, itself 1/9 of the (Q + G)² one; no tensor has either shape."""
    num_query, num_gallery = 1000, 7000
    query, gallery = clustered_features(num_query, num_gallery, 16, seed=0)
    rng = np.random.default_rng(0)
    query_ids, query_cams = rng.integers(0, 6, num_query), rng.integers(0, 3, num_query)
    accumulator = RankAccumulator(rng.integers(0, 6, num_gallery),
                                  rng.integers(0, 3, num_gallery), max_work_bytes=2**20)
    tracemalloc.start()
    with TensorMemoryTracker(record_shapes=True) as tracker:
        for rows, distances in k_reciprocal_rerank_chunks(query, gallery, k1=6, k2=2,
                                                          max_memory_bytes=2**22):
            accumulator.add(distances, query_ids[rows], query_cams[rows])
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    query_gallery_bytes = 4 * num_query * num_gallery
    assert numpy_peak + tracker.peak_bytes < query_gallery_bytes / 3, (numpy_peak,
                                                                       tracker.peak_bytes)
    assert not [shape for shape in tracker.shapes
                if num_gallery in shape and (num_query in shape or num_query + num_gallery
                                             in shape)]
    assert accumulator.result()['num_valid_queries'] == num_query


def test_bad_inputs_are_named():
    query, gallery = torch.randn(3, 4), torch.randn(5, 4)
    bad = gallery.clone()
    bad[2, 1] = float('nan')
    with pytest.raises(ValueError, match=r'gallery embeddings contain NaN or inf \(first at '
                                         r'row 2\)'):
        k_reciprocal_rerank_chunks(query, bad, k1=2)
    bad = query.clone()
    bad[1, 0] = float('inf')
    with pytest.raises(ValueError, match=r'query embeddings contain NaN or inf \(first at '
                                         r'row 1\)'):
        k_reciprocal_rerank_chunks(bad, gallery, k1=2)
    with pytest.raises(ValueError, match=r'same dimension D, got shapes \(3, 4\) and '
                                         r'\(5, 3\)'):
        k_reciprocal_rerank_chunks(query, gallery[:, :3], k1=2)
    with pytest.raises(ValueError, match=r'at least one query and one gallery embedding, got '
                                         r'shapes \(3, 4\) and \(0, 4\)'):
        k_reciprocal_rerank_chunks(query, gallery[:0], k1=2)
    with pytest.raises(ValueError, match=r'1 <= k1 <= 7 \(the number of query and gallery '
                                         r'images, 8, minus one\), got k1=8'):
        k_reciprocal_rerank_chunks(query, gallery, k1=8)
    with pytest.raises(ValueError, match=r'1 <= k2 <= 8 .* got k2=9'):
        k_reciprocal_rerank_chunks(query, gallery, k1=7, k2=9)
    with pytest.raises(ValueError, match=r'budget of 0.000954 MiB cannot hold one row of '
                                         r'work over 8 images; give at least 0.000977 MiB'):
        k_reciprocal_rerank_chunks(query, gallery, k1=2, max_memory_bytes=1000)
    with pytest.raises(ValueError, match='query-query distances contain NaN'):
        k_reciprocal_rerank(np.zeros((1, 2)), np.array([[np.nan]]), np.zeros((2, 2)), k1=1)
    # the largest k1 and k2 and the least budget are accepted
    chunks = k_reciprocal_rerank_chunks(query, gallery, k1=7, k2=8, max_memory_bytes=1024)
    assert sum(part.shape[0] for _, part in chunks) == 3


def test_the_benchmark_runs_at_a_toy_size(capsys):
    """tools/analysis_tools/benchmark_rerank.py on a hundredth of Market-1501: one row of
    the table, with the scaled sizes and scores in percent."""
    module = load_script(BENCHMARK, 'benchmark_rerank')
    module.main(['--sizes', 'market', '--scale', '0.01', '--dim', '32', '--memory-mib', '1'])
    rows = [line.split('|') for line in capsys.readouterr().out.splitlines()
            if line.startswith('| market')]
    assert len(rows) == 1
    num_query, num_gallery, seconds, _, _, mean_ap, rank1 = rows[0][2:9]
    # the time is printed to 0.1 s, and the toy size may take less than 0.05 s
    assert (int(num_query), int(num_gallery)) == (34, 160) and float(seconds) >= 0
    scores = [float(value) for value in mean_ap.split('→') + rank1.split('→')]
    assert all(0 < score <= 100 for score in scores)


def test_the_work_before_the_first_chunk_is_told_when_it_is_done():
    """k1 = 3, k2 = 5: the 5 nearest of each of 6 + 20 images, and as many weights as the
    encodings built from the definitions on the same (cosine) distances have non-zeros
    (exp(-d) > 0 on every member).
    Nothing is told before the first chunk is asked for."""
    query, gallery = clustered_features(6, 20, 8, seed=0)
    told = []
    chunks = k_reciprocal_rerank_chunks(query, gallery, k1=3, k2=5, tell=told.append)
    assert told == []
    next(chunks)
    assert len(told) == 2
    assert re.fullmatch(r'found the 5 nearest of each of 26 query and gallery images in \d+ s',
                        told[0])
    weights = int(re.fullmatch(r'encoded the k-reciprocal neighbourhoods \((\d+) weights\) '
                               r'in \d+ s', told[1]).group(1))
    joint = pairwise_distance(torch.cat([query, gallery]), torch.cat([query, gallery]),
                              'cosine').double().numpy()**2
    expected = plain_encoding(joint / joint.max(axis=1, keepdims=True), k1=3, k2=5)
    assert weights == np.count_nonzero(expected)


def test_progress_is_told_at_the_start_every_tenth_and_at_the_end():
    """25 queries in chunks of 4: the tenths are crossed at 4 (1/10), 8 (3/10), 12, 16, 20
    and 24 queries; the last chunk gets the closing line alone."""
    chunks = [(slice(start, min(start + 4, 25)), np.zeros((min(4, 25 - start), 3)))
              for start in range(0, 25, 4)]
    told = []
    passed = list(with_progress(iter(chunks), 25, told.append))
    assert passed == chunks
    assert told[0] == ('re-ranking 25 queries (k-reciprocal neighbours of every query and '
                       'gallery image first)')
    assert [line.split(' in ')[0] for line in told[1:]] == [
        f're-ranked {done} of 25 queries' for done in (4, 8, 12, 16, 20, 24)] + [
        're-ranked 25 queries']
    assert all(re.fullmatch(r'.* in \d+ s', line) for line in told[1:])
