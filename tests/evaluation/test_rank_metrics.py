"""rank_metrics against hand-worked values of the protocol (docs/reid.md, "Evaluation
protocol")."""
import tracemalloc

import numpy as np
import pytest
import torch

from rga_mm.evaluation.functional import RankAccumulator, rank_metrics
from rga_mm.testing import plain_rank_metrics

# Gallery of the hand-worked case: (identity, camera)
GALLERY_IDS = np.array([2, 1, 1, 0, -1, 1, 3])
GALLERY_CAMS = np.array([1, 0, 1, 1, 1, 2, 2])
QUERY_IDS = np.array([1, 2, 3])
QUERY_CAMS = np.array([0, 0, 2])
DISTMAT = np.array([
    # g0    g1    g2    g3    g4    g5    g6
    [0.1, 0.2, 0.3, 0.4, 0.05, 0.6, 0.5],  # q0: id 1, cam 0
    [0.9, 0.1, 0.2, 0.3, 0.0, 0.4, 0.5],  # q1: id 2, cam 0
    [0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.0],  # q2: id 3, cam 2
])


@pytest.mark.parametrize('metrics', [rank_metrics, plain_rank_metrics],
                         ids=['rank_metrics', 'plain_reference'])
def test_hand_worked_cmc_ap_inp(metrics):
    """q0: g1 (same id, same camera) and g4 (junk) leave its list, which is
    g0 -, g2 +, g3 - (distractor), g6 -, g5 + → matches at ranks 2 and 5:
    AP = (1/2 + 2/5) / 2 = 0.45, INP = 2/5.
    q1: junk g4 at distance 0 leaves; its one match g0 is 6th: AP = INP = 1/6.
    q2: its only match g6 shares its camera → no valid match, skipped.
    ``rga_mm.testing.plain_rank_metrics``, which the tests below and the metric benchmark
    compare against, gives the same values."""
    out = metrics(DISTMAT, QUERY_IDS, GALLERY_IDS, QUERY_CAMS, GALLERY_CAMS, max_rank=7)
    assert out['num_valid_queries'] == 2 and out['num_skipped_queries'] == 1
    np.testing.assert_allclose(out['cmc'], [0, 0.5, 0.5, 0.5, 0.5, 1, 1])
    assert out['mAP'] == pytest.approx((0.45 + 1 / 6) / 2)
    assert out['mINP'] == pytest.approx((0.4 + 1 / 6) / 2)


def test_cmc_has_max_rank_entries_even_beyond_the_gallery():
    out = rank_metrics(DISTMAT, QUERY_IDS, GALLERY_IDS, QUERY_CAMS, GALLERY_CAMS,
                       max_rank=50)
    assert out['cmc'].shape == (50, )
    assert out['cmc'][-1] == 1.0


def test_ties_are_broken_by_gallery_order():
    """Equal distances: the item listed first in the gallery ranks first."""
    ids, cams = np.array([1]), np.array([0])
    negative_first = rank_metrics(np.array([[0.5, 0.5]]), ids, np.array([2, 1]), cams,
                                  np.array([1, 1]))
    match_first = rank_metrics(np.array([[0.5, 0.5]]), ids, np.array([1, 2]), cams,
                               np.array([1, 1]))
    assert negative_first['mAP'] == 0.5 and negative_first['cmc'][0] == 0
    assert match_first['mAP'] == 1.0 and match_first['cmc'][0] == 1


def test_tie_with_a_removed_same_camera_item_does_not_count():
    # g0 (same id, same camera) ties with and precedes the valid match g1: g1 is rank 1
    out = rank_metrics(np.array([[0.5, 0.5, 0.7]]), [1], [1, 1, 2], [0], [0, 1, 1])
    assert out['mAP'] == 1.0 and out['mINP'] == 1.0


def test_no_valid_match_in_any_query_is_an_error():
    with pytest.raises(ValueError, match='none of the 1 queries has a match'):
        rank_metrics(np.array([[0.1, 0.2]]), [1], [1, 2], [0], [0, 1])


@pytest.mark.parametrize('shape', [(0, 3), (2, 0)])
def test_empty_query_or_gallery_is_an_error(shape):
    with pytest.raises(ValueError, match=r'at least one query and one gallery.*' +
                       str(shape).replace('(', r'\(').replace(')', r'\)')):
        rank_metrics(np.zeros(shape), np.zeros(shape[0]), np.zeros(shape[1]),
                     np.zeros(shape[0]), np.zeros(shape[1]))


def test_label_sizes_are_checked():
    with pytest.raises(ValueError, match='gallery_cams has 6 entries but distmat has 7 '
                                         'gallery columns'):
        rank_metrics(DISTMAT, QUERY_IDS, GALLERY_IDS, QUERY_CAMS, GALLERY_CAMS[:6])


def test_skipped_queries_are_counted_apart_from_the_evaluated_ones():
    """Gallery: g0 (id 1, cam 1), g1 (id 1, cam 1), g2 (id 2, cam 0).
    q0 (id 1, cam 0) ranks g2, g0, g1: matches at ranks 2 and 3, AP = (1/2 + 2/3) / 2 = 7/12,
    INP = 2/3. q1 (id 1, cam 1): both items of its identity share its camera → skipped.
    q2 (id 5): no item of its identity → skipped. The scores are q0's alone (not divided by
    3), and the counts say 1 evaluated, 2 skipped."""
    distmat = np.array([[0.2, 0.3, 0.1], [0.2, 0.1, 0.3], [0.3, 0.2, 0.1]])
    out = rank_metrics(distmat, [1, 1, 5], [1, 1, 2], [0, 1, 0], [1, 1, 0], max_rank=3)
    assert out['num_valid_queries'] == 1 and out['num_skipped_queries'] == 2
    assert out['mAP'] == pytest.approx(7 / 12) and out['mINP'] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(out['cmc'], [0, 1, 1])


@pytest.mark.parametrize('name, values, shown', [
    ('query_ids', np.array([1.0, 2.7, 3.0]), r'2\.7 at position 1'),
    # integral floats are refused too: an identity must arrive as an integer
    ('gallery_ids', np.array([2.0, 1.0, 1.0, 0.0, -1.0, 1.0, 3.0]), r'2\.0 at position 0'),
    ('query_cams', torch.tensor([0.0, 0.0, 2.0]), r'0\.0 at position 0'),
    ('gallery_cams', [1, 0, 1, 1, 1, 2, 2.5], r'2\.5 at position 6'),
])
def test_float_labels_are_an_error_not_truncated(name, values, shown):
    labels = dict(query_ids=QUERY_IDS, gallery_ids=GALLERY_IDS, query_cams=QUERY_CAMS,
                  gallery_cams=GALLERY_CAMS)
    labels[name] = values
    with pytest.raises(ValueError, match=f'{name} must be integers, got dtype float.* with '
                                         f'{shown}'):
        rank_metrics(DISTMAT, **labels)


def test_integer_labels_of_any_integer_type_are_accepted():
    reference = rank_metrics(DISTMAT, QUERY_IDS, GALLERY_IDS, QUERY_CAMS, GALLERY_CAMS)
    out = rank_metrics(DISTMAT, torch.tensor(QUERY_IDS), GALLERY_IDS.astype(np.int16),
                       QUERY_CAMS.tolist(), GALLERY_CAMS.astype(np.uint8))
    assert out['mAP'] == reference['mAP']


def test_nan_is_an_error():
    distmat = DISTMAT.copy()
    distmat[1, 3] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        rank_metrics(distmat, QUERY_IDS, GALLERY_IDS, QUERY_CAMS, GALLERY_CAMS)


def small_integers(rng, shape):
    """Many ties; non-negative, so rows are sorted as the integers their bits read as."""
    return rng.integers(0, 6, shape).astype(np.float32)


def signed_halves(rng, shape):
    """Negative distances and -0.0 (equal to 0.0, but not as bits): sorted as floats."""
    distmat = (rng.integers(-3, 4, shape) / 2).astype(np.float32)
    return np.where(rng.random(shape) < 0.1, np.float32(-0.0), distmat)


def float64_quarters(rng, shape):
    return rng.integers(0, 12, shape) / 4


@pytest.mark.parametrize('distances', [small_integers, signed_halves, float64_quarters])
@pytest.mark.parametrize('seed', range(5))
def test_matches_the_plain_protocol_in_any_chunking(seed, distances):
    """Against the protocol written plainly (``rga_mm.testing.plain_rank_metrics``: sort each
    row, filter, walk the matches) on random problems with many ties, junk and distractors;
    chunks of 1 query up to all, evaluated by one or several threads."""
    rng = np.random.default_rng(seed)
    num_query, num_gallery = 40, 120
    query_ids = rng.integers(1, 10, num_query)
    gallery_ids = rng.integers(-1, 10, num_gallery)
    query_cams, gallery_cams = rng.integers(0, 3, num_query), rng.integers(0, 3, num_gallery)
    distmat = distances(rng, (num_query, num_gallery))
    plain = plain_rank_metrics(distmat, query_ids, gallery_ids, query_cams, gallery_cams,
                               max_rank=20)
    cmc, mean_ap, mean_inp = plain['cmc'], plain['mAP'], plain['mINP']
    for max_work_bytes in (1, 2000, 10**9):
        for num_threads in (1, 3):
            out = rank_metrics(distmat, query_ids, gallery_ids, query_cams, gallery_cams,
                               max_rank=20, max_work_bytes=max_work_bytes,
                               num_threads=num_threads)
            np.testing.assert_allclose(out['cmc'], cmc)
            assert out['mAP'] == pytest.approx(mean_ap)
            assert out['mINP'] == pytest.approx(mean_inp)


def test_chunking_and_threads_do_not_change_the_sums():
    """mAP and mINP are exactly rounded sums over the queries: the same to the last bit
    whatever the chunks, the threads and the order of the queries."""
    rng = np.random.default_rng(0)
    distmat = rng.random((200, 300))
    query_ids, gallery_ids = rng.integers(0, 20, 200), rng.integers(0, 20, 300)
    query_cams, gallery_cams = rng.integers(0, 4, 200), rng.integers(0, 4, 300)
    reference = rank_metrics(distmat, query_ids, gallery_ids, query_cams, gallery_cams,
                             num_threads=1)
    shuffled = rng.permutation(200)
    every = slice(None)
    for max_work_bytes, num_threads, rows in ((1, 1, every), (3000, 2, every),
                                              (10**9, 4, shuffled)):
        out = rank_metrics(distmat[rows], query_ids[rows], gallery_ids, query_cams[rows],
                           gallery_cams, max_work_bytes=max_work_bytes,
                           num_threads=num_threads)
        assert out['mAP'] == reference['mAP'] and out['mINP'] == reference['mINP']
        np.testing.assert_array_equal(out['cmc'], reference['cmc'])


def test_chunks_accumulated_equal_the_whole_matrix():
    """RankAccumulator, as re-ranking feeds it: uneven chunks of queries in shuffled order,
    float32 and float64 ones (with values exact in both), give rank_metrics of the whole
    matrix to the last bit."""
    rng = np.random.default_rng(3)
    distmat = rng.integers(0, 40, (97, 150)) / 8  # ties, exact in float32
    query_ids, gallery_ids = rng.integers(0, 12, 97), rng.integers(-1, 12, 150)
    query_cams, gallery_cams = rng.integers(0, 3, 97), rng.integers(0, 3, 150)
    whole = rank_metrics(distmat, query_ids, gallery_ids, query_cams, gallery_cams,
                         max_rank=30)
    accumulator = RankAccumulator(gallery_ids, gallery_cams, max_rank=30, max_work_bytes=3000,
                                  num_threads=2)
    bounds = [0, 1, 13, 40, 41, 97]
    for number in rng.permutation(len(bounds) - 1):
        rows = slice(bounds[number], bounds[number + 1])
        chunk = distmat[rows].astype(np.float32 if number % 2 else np.float64)
        accumulator.add(chunk, query_ids[rows], query_cams[rows])
    result = accumulator.result()
    np.testing.assert_array_equal(result.pop('cmc'), whole.pop('cmc'))
    assert result == whole


def test_each_chunk_gives_its_queries_average_precision():
    """``add`` returns every query's AP, NaN for a skipped query: the hand-worked ones
    (q0 0.45, q1 1/6, q2 skipped), and on a random problem split over threads and chunks,
    the plain reference's AP of each row on its own."""
    hand_worked = RankAccumulator(GALLERY_IDS, GALLERY_CAMS).add(DISTMAT, QUERY_IDS,
                                                                 QUERY_CAMS)
    np.testing.assert_allclose(hand_worked, [0.45, 1 / 6, np.nan])
    rng = np.random.default_rng(5)
    distmat = rng.integers(0, 40, (61, 90)) / 8
    # identities 12 to 15 are in no gallery: those queries are skipped
    query_ids, gallery_ids = rng.integers(0, 16, 61), rng.integers(-1, 12, 90)
    query_cams, gallery_cams = rng.integers(0, 3, 61), rng.integers(0, 3, 90)
    accumulator = RankAccumulator(gallery_ids, gallery_cams, max_work_bytes=2000,
                                  num_threads=2)
    average_precision = np.concatenate([
        accumulator.add(distmat[rows], query_ids[rows], query_cams[rows])
        for rows in (slice(0, 17), slice(17, 61))])
    for row in range(61):
        one = slice(row, row + 1)
        try:
            expected = plain_rank_metrics(distmat[one], query_ids[one], gallery_ids,
                                          query_cams[one], gallery_cams)['mAP']
        except ValueError:  # no valid match
            expected = np.nan
        np.testing.assert_allclose(average_precision[row], expected, rtol=1e-12)
    assert 0 < np.isnan(average_precision).sum() < 61  # both kinds of query were checked
    assert accumulator.result()['num_skipped_queries'] == np.isnan(average_precision).sum()


def test_accumulator_checks_each_chunk():
    accumulator = RankAccumulator(GALLERY_IDS, GALLERY_CAMS)
    with pytest.raises(ValueError, match='gallery_ids has 7 entries but distmat has 6 '
                                         'gallery columns'):
        accumulator.add(DISTMAT[:, :6], QUERY_IDS, QUERY_CAMS)
    with pytest.raises(ValueError, match='gallery_ids has 7 entries but gallery_cams has 6'):
        RankAccumulator(GALLERY_IDS, GALLERY_CAMS[:6])


@pytest.mark.parametrize('num_threads', [1, 2])
def test_work_arrays_stay_within_the_budget(num_threads):
    """The budget bounds the work arrays of all threads together."""
    rng = np.random.default_rng(0)
    num_query, num_gallery, budget = 300, 4000, 2 * 2**20
    distmat = rng.random((num_query, num_gallery), dtype=np.float32)
    query_ids = rng.integers(0, 100, num_query)
    gallery_ids = rng.integers(-1, 100, num_gallery)  # junk forces a column-filtered copy
    cams = rng.integers(0, 6, num_query), rng.integers(0, 6, num_gallery)
    tracemalloc.start()
    rank_metrics(distmat, query_ids, gallery_ids, cams[0], cams[1], max_work_bytes=budget,
                 num_threads=num_threads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert distmat.nbytes > 2 * budget
    assert peak < 1.3 * budget


def test_an_accumulator_without_queries_or_gallery_says_so():
    with pytest.raises(ValueError, match='no query was added'):
        RankAccumulator(np.array([1, 2]), np.array([0, 1])).result()
    with pytest.raises(ValueError, match='gallery_ids is empty'):
        RankAccumulator([], [])
