"""ReIDMetric's options, each checked on a case worked out by hand: average query expansion
(αQE, Radenović et al. TPAMI 2018), TPR at fixed FPR over query-gallery pairs, and data
without cameras. (Flip test-time augmentation is the model's: tests/models/test_flip_test.py.)"""
import math
import re

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from rga_mm.errors import ConfigError
from rga_mm.evaluation import ReIDMetric
from rga_mm.evaluation.functional import (
    TprAccumulator,
    average_query_expansion,
    tpr_at_fpr,
    verification,
)


def sample(feature, identity, camera, is_query):
    data = DataSample(metainfo=dict(camera_id=camera, is_query=is_query))
    data.set_gt_label(identity)
    data.set_field(torch.tensor(feature, dtype=torch.float32), 'pred_feature')
    return data.to_dict()


def evaluate(metric, samples):
    metric.process(None, samples)
    return metric.evaluate(size=len(samples))


# --- average query expansion ------------------------------------------------------------

# q = (1, 0); gallery at cosine 0, 0.8, 0.6 and -1 from it (raw lengths 3, 5, 2, 1)
QUERY = torch.tensor([[2.0, 0.0]])
GALLERY = torch.tensor([[0.0, 3.0], [4.0, 3.0], [1.2, -1.6], [-1.0, 0.0]])


def test_aqe_alpha_weighted_by_hand():
    """k = 1, alpha = 1: the nearest is ĝ1 = (0.8, 0.6) with weight 0.8;
    q' ∝ (1, 0) + 0.8 (0.8, 0.6) = (1.64, 0.48), |q'| = √2.92."""
    expanded = average_query_expansion(QUERY, GALLERY, k=1, alpha=1.0)
    torch.testing.assert_close(expanded, torch.tensor([[1.64, 0.48]]) / math.sqrt(2.92))


def test_aqe_plain_mean_by_hand():
    """k = 2, alpha = 0: plain mean of q̂, ĝ1 = (0.8, 0.6), ĝ2 = (0.6, -0.8):
    q' ∝ (2.4, -0.2), |q'| = √5.8."""
    expanded = average_query_expansion(QUERY, GALLERY, k=2, alpha=0.0)
    torch.testing.assert_close(expanded, torch.tensor([[2.4, -0.2]]) / math.sqrt(5.8))


def test_aqe_weights_negative_similarity_zero_and_clamps_k():
    """k = 9 > G = 4 uses all four; alpha = 0.5: weights √0 = 0, √0.8, √0.6, and 0 (not
    NaN) for cosine -1: q' ∝ (1, 0) + √0.8 (0.8, 0.6) + √0.6 (0.6, -0.8)."""
    expanded = average_query_expansion(QUERY, GALLERY, k=9, alpha=0.5)
    a, b = math.sqrt(0.8), math.sqrt(0.6)
    expected = torch.tensor([[1 + 0.8 * a + 0.6 * b, 0.6 * a - 0.8 * b]])
    torch.testing.assert_close(expanded, expected / expected.norm())


def test_aqe_ties_take_the_earlier_gallery_item():
    """ĝ1 = (0.6, 0.8) and ĝ2 = (0.6, -0.8) are both at cosine 0.6; k = 1 takes ĝ1 (as the
    ranking breaks ties by gallery order): q' ∝ (1.6, 0.8) = (2, 1) · 0.8."""
    gallery = torch.tensor([[0.0, 1.0], [0.6, 0.8], [0.6, -0.8]])
    expanded = average_query_expansion(torch.tensor([[1.0, 0.0]]), gallery, k=1, alpha=0.0)
    torch.testing.assert_close(expanded, torch.tensor([[2.0, 1.0]]) / math.sqrt(5))


def test_aqe_blocks_of_queries_give_the_same_result(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    query, gallery = torch.randn(7, 4, generator=generator), torch.randn(5, 4,
                                                                         generator=generator)
    whole = average_query_expansion(query, gallery, k=3)
    monkeypatch.setattr('rga_mm.evaluation.functional.query_expansion.MAX_BLOCK_ELEMENTS', 10)
    torch.testing.assert_close(average_query_expansion(query, gallery, k=3), whole)


# q (id 1, cam 0) = (1, 0); gallery A (id 2) at cosine 0.8, B and C (id 1) at 0.6 and 0.28
AQE_CASE = [sample([1.0, 0.0], 1, 0, True), sample([0.8, -0.6], 2, 1, False),
            sample([0.6, 0.8], 1, 1, False), sample([0.28, 0.96], 1, 1, False)]


def test_metric_aqe_by_hand():
    """Without AQE the ranking is A, B, C: rank-1 0, AP = (1/2 + 2/3) / 2 = 7/12.
    AQE, k = 3, alpha = 0: q' ∝ (1, 0) + A + B + C = (2.68, 1.16); q'·(A, B, C) = 1.448,
    2.536, 1.864, so the ranking is B, C, A: rank-1 100, AP 1.
    alpha = 1 weighs A most: q' ∝ (2.0784, 0.2688), q'·(A, B, C) = 1.501, 1.462, 0.840:
    A, B, C again."""
    plain = evaluate(ReIDMetric(topk=(1, ), max_rank=3), AQE_CASE)
    expanded = evaluate(ReIDMetric(topk=(1, ), max_rank=3, aqe=True, aqe_k=3, aqe_alpha=0.0),
                        AQE_CASE)
    weighted = evaluate(ReIDMetric(topk=(1, ), max_rank=3, aqe=True, aqe_k=3, aqe_alpha=1.0),
                        AQE_CASE)
    assert (plain['reid/rank1'], plain['reid/mAP']) == (0.0, pytest.approx(100 * 7 / 12))
    assert (expanded['reid/rank1'], expanded['reid/mAP']) == (100.0, 100.0)
    assert (weighted['reid/rank1'], weighted['reid/mAP']) == (0.0, pytest.approx(100 * 7 / 12))


def test_aqe_options_are_checked():
    with pytest.raises(ValueError, match="aqe averages L2-normalised embeddings.*use "
                                         "distance='cosine'"):
        ReIDMetric(distance='euclidean', aqe=True)
    for aqe_k in (0, 2.5, '5', True):  # a float reached torch.topk after the inference
        with pytest.raises(ValueError, match=re.escape(
                f'ReIDMetric aqe_k must be a positive int (the number of gallery neighbours '
                f'averaged into each query), got {aqe_k!r}')):
            ReIDMetric(aqe=True, aqe_k=aqe_k)
    for aqe_alpha in (-1, math.nan, math.inf):  # inf turned the expansion off silently
        with pytest.raises(ValueError, match=re.escape(
                f'ReIDMetric: aqe_alpha weighs the neighbours by their similarity to the '
                f'power alpha, a finite number of 0 or more, got {aqe_alpha!r}')):
            ReIDMetric(aqe=True, aqe_alpha=aqe_alpha)


def test_aqe_refuses_embeddings_that_are_not_finite():
    gallery = GALLERY.clone()
    gallery[1, 0] = float('nan')
    query = torch.cat([QUERY, torch.full_like(QUERY, float('inf'))])
    with pytest.raises(ValueError, match='got 1 query and 1 gallery embeddings with NaN or '
                                         'infinite values'):
        average_query_expansion(query, gallery)


# --- TPR at FPR ---------------------------------------------------------------------------

# q0 (id 1, cam 0) and q1 (id 2, cam 0) against g0 (id 1, cam 1), g1 (id 2, cam 1),
# g2 (id 1, cam 0: q0's own identity and camera, no pair for q0), g3 (id 3), g4 (junk)
DISTMAT = np.array([[0.10, 0.30, 0.05, 0.60, 0.00],
                    [0.40, 0.40, 0.35, 0.50, 0.01]])
LABELS = dict(query_ids=np.array([1, 2]), gallery_ids=np.array([1, 2, 1, 3, -1]),
              query_cams=np.array([0, 0]), gallery_cams=np.array([1, 1, 0, 1, 1]))


@pytest.mark.parametrize('target, tpr', [
    (1e-4, 0.5),  # n = 0: threshold below 0.30 accepts the positive 0.10
    (0.2, 0.5),   # n = 1: below 0.35
    (0.4, 0.5),   # n = 2: below 0.40; the positive at 0.40 would bring the negative 0.40
    (0.6, 1.0),   # n = 3: below 0.50 accepts both positives
    (1.0, 1.0),
])
def test_tpr_at_fpr_by_hand(target, tpr):
    """Positives: q0-g0 0.10, q1-g1 0.40. Negatives: 0.30, 0.60 (q0), 0.40, 0.35, 0.50 (q1),
    sorted 0.30 0.35 0.40 0.50 0.60. Not pairs: q0-g2 0.05 (same identity and camera) and
    the junk g4 (0.00, 0.01), which would otherwise be the closest. The threshold must stay
    below the (n + 1)-th negative, n = floor(target · 5)."""
    assert tpr_at_fpr(DISTMAT, **LABELS, fpr_targets=(target, )) == {target: tpr}


def test_tpr_is_zero_when_no_positive_beats_the_closest_negative():
    assert tpr_at_fpr(np.array([[0.5, 0.2, 0.6]]), np.array([1]), np.array([1, 2, 3]),
                      np.array([0]), np.array([1, 1, 1]), fpr_targets=(0.1, )) == {0.1: 0.0}


def test_tpr_at_fpr_equals_a_brute_force_roc(monkeypatch):
    """Against every threshold of the ROC (each distinct distance, and below all): the best
    TPR whose FPR is at most the target; blocks of 7 values cross the query rows."""
    rng = np.random.default_rng(0)
    distmat = rng.integers(0, 40, (13, 17)) / 40  # many ties
    ids_q, ids_g = rng.integers(0, 4, 13), rng.integers(-1, 4, 17)
    cams_q, cams_g = rng.integers(0, 2, 13), rng.integers(0, 2, 17)
    valid = (ids_g[None] != -1) & ~((ids_q[:, None] == ids_g[None]) &
                                     (cams_q[:, None] == cams_g[None]))
    positive = (ids_q[:, None] == ids_g[None]) & valid
    negative = (ids_q[:, None] != ids_g[None]) & valid
    targets = (0.01, 0.05, 0.1, 0.3, 0.77)
    expected = {}
    for target in targets:
        best = 0.0
        for threshold in np.concatenate([[-1.0], np.unique(distmat)]):
            accepted = distmat <= threshold
            if (accepted & negative).sum() <= target * negative.sum():
                best = max(best, (accepted & positive).sum() / positive.sum())
        expected[target] = best
    monkeypatch.setattr(verification, 'MAX_BLOCK_ELEMENTS', 7)
    assert tpr_at_fpr(distmat, ids_q, ids_g, cams_q, cams_g, targets) == pytest.approx(expected)


def test_tpr_of_chunks_accumulated_equals_that_of_the_whole_matrix():
    """TprAccumulator, as re-ranking feeds it: uneven chunks of queries in shuffled order."""
    rng = np.random.default_rng(1)
    distmat = rng.integers(0, 40, (29, 17)) / 40
    ids_q, ids_g = rng.integers(0, 4, 29), rng.integers(-1, 4, 17)
    cams_q, cams_g = rng.integers(0, 2, 29), rng.integers(0, 2, 17)
    targets = (0.01, 0.05, 0.3)
    accumulator = TprAccumulator(ids_g, cams_g, 29, targets)
    for rows in (slice(20, 29), slice(0, 1), slice(1, 20)):
        accumulator.add(distmat[rows], ids_q[rows], cams_q[rows])
    assert accumulator.result() == tpr_at_fpr(distmat, ids_q, ids_g, cams_q, cams_g, targets)


def test_allowed_false_positives_forgives_float_error():
    assert 0.57 * 100 < 57  # 56.99999999999999
    assert verification._allowed_false_positives(0.57, 100) == 57


def test_metric_reports_tpr_on_the_final_distances():
    """AQE_CASE, cosine distances A 0.2 (negative), B 0.4, C 0.72 (positives): one negative,
    so FPR 1e-4 allows none and the threshold stays below 0.2: TPR 0. With AQE (k = 3,
    alpha = 0) B and C are closer than A (q'·: 2.536, 1.864 > 1.448): TPR 100."""
    options = dict(topk=(1, ), max_rank=3, tpr_at_fpr=(1e-4, 1e-3, 1e-2))
    plain = evaluate(ReIDMetric(**options), AQE_CASE)
    expanded = evaluate(ReIDMetric(aqe=True, aqe_k=3, aqe_alpha=0.0, **options), AQE_CASE)
    keys = ['reid/TPR@FPR=1e-4', 'reid/TPR@FPR=1e-3', 'reid/TPR@FPR=1e-2']
    assert [plain[key] for key in keys] == [0.0, 0.0, 0.0]
    assert [expanded[key] for key in keys] == [100.0, 100.0, 100.0]
    assert 'reid/TPR@FPR=1e-4' not in evaluate(ReIDMetric(topk=(1, ), max_rank=3), AQE_CASE)


def test_tpr_targets_are_checked():
    for rates in ((0, 2), [True], '1e-3', None, 2):
        with pytest.raises(ValueError, match=re.escape(
                f'ReIDMetric: tpr_at_fpr takes false positive rates in (0, 1], one number or '
                f'a list of them, got {rates!r}')):
            ReIDMetric(tpr_at_fpr=rates)
    # one rate, as --cfg-options test_evaluator.tpr_at_fpr=1e-3 gives it (a TypeError before)
    assert ReIDMetric(tpr_at_fpr=1e-3).fpr_targets == (1e-3, )


def test_rerank_ranks_and_budgets_are_checked_when_the_metric_is_built():
    """Not after the whole inference; lambda_value outside [0, 1] gave wrong numbers with
    exit code 0 (λ = 2: mAP 9.5 on the demo, 30.3 at 0.3)."""
    for name, value, meaning in (
            ('k1', 0, "the size of re-ranking's k-reciprocal neighbourhoods"),
            ('k1', 2.5, "the size of re-ranking's k-reciprocal neighbourhoods"),
            ('k2', '5', "the size of re-ranking's local query expansion")):
        with pytest.raises(ValueError, match=re.escape(
                f'ReIDMetric {name} must be a positive int ({meaning}), got {value!r}')):
            ReIDMetric(rerank=True, **{name: value})
    for lambda_value in (2, -0.5, math.nan):
        with pytest.raises(ValueError, match=re.escape(
                f'ReIDMetric: lambda_value weighs the original distance against the Jaccard '
                f'distance in re-ranking, a number from 0 to 1 (the paper of Zhong et al. '
                f'uses 0.3), got {lambda_value!r}')):
            ReIDMetric(rerank=True, lambda_value=lambda_value)
    assert ReIDMetric(rerank=True, lambda_value=0).rerank_args['lambda_value'] == 0
    ReIDMetric(rerank=False, k1=0)  # unused without re-ranking
    for memory_mb in (0, -1, math.inf):
        with pytest.raises(ValueError, match=re.escape(
                f"ReIDMetric: memory_mb is the memory budget in MiB of the evaluation's "
                f'chunks, a number above 0, got {memory_mb!r}')):
            ReIDMetric(memory_mb=memory_mb)
    with pytest.raises(ValueError, match=re.escape(
            'ReIDMetric max_rank must be a positive int (the length of the CMC curve kept), '
            'got 2.5')):
        ReIDMetric(max_rank=2.5, topk=1)


# --- data without cameras -------------------------------------------------------------------

def test_single_camera_data_needs_exclude_same_camera_false():
    """Every image camera 0: the protocol would remove q's only true match g1, so the default
    says why; with exclude_same_camera=False, g1 (cosine 1) ranks first."""
    samples = [sample([1.0, 0.0], 1, 0, True), sample([0.0, 1.0], 2, 0, False),
               sample([1.0, 0.0], 1, 0, False)]
    with pytest.raises(ValueError, match=r'every query and gallery image comes from camera 0.*'
                                         r'exclude_same_camera=False'):
        evaluate(ReIDMetric(topk=(1, ), max_rank=2), samples)
    result = evaluate(ReIDMetric(topk=(1, ), max_rank=2, exclude_same_camera=False,
                                 tpr_at_fpr=(0.5, )), samples)
    assert (result['reid/rank1'], result['reid/mAP'], result['reid/TPR@FPR=5e-1']) == (
        100.0, 100.0, 100.0)


SINGLE_CAMERA = (r"^ReIDMetric: every query and gallery image comes from camera 4, so the "
                 r"protocol \(no match from the query's own camera\) leaves no true match; "
                 r"give the dataset its cameras, or set exclude_same_camera=False in "
                 r"val_evaluator and test_evaluator for data without them$")


def test_single_camera_metainfo_is_refused_when_the_loop_hands_it_over():
    """mmengine's validation and test loops set ``evaluator.dataset_meta`` to the dataset's
    metainfo when they are built, before any training or inference: a re-ID dataset's
    ``split='test'`` gives its cameras there, and one camera is refused at once."""
    with pytest.raises(ConfigError, match=SINGLE_CAMERA):
        ReIDMetric().dataset_meta = dict(cameras=[4])
    evaluator = Evaluator(dict(type='ReIDMetric'))
    with pytest.raises(ConfigError, match=SINGLE_CAMERA):
        evaluator.dataset_meta = dict(cameras=[4])


@pytest.mark.parametrize('meta', [dict(cameras=[0, 4]), dict(classes=('a', )), dict(), None])
def test_metainfo_with_cameras_or_without_them_is_kept(meta):
    """Several cameras, or metainfo that does not say (another dataset, lazy loading, a
    metric used alone): kept, and the check waits for compute time."""
    metric = ReIDMetric()
    metric.dataset_meta = meta
    assert metric.dataset_meta == meta


def test_single_camera_metainfo_is_kept_without_the_same_camera_rule():
    metric = ReIDMetric(exclude_same_camera=False)
    metric.dataset_meta = dict(cameras=[0])
    assert metric.dataset_meta == dict(cameras=[0])


def test_metainfo_without_a_cross_camera_query_is_refused_under_the_camera_rule():
    """Several cameras, but every query's identity photographed by its own camera only: the
    run would train to its first validation and stop there."""
    meta = dict(cameras=[1, 2, 3], cross_camera_queries=0)
    with pytest.raises(ConfigError, match=r"^ReIDMetric: no query has a gallery image of its "
                                          r"identity from another camera, .* set "
                                          r"exclude_same_camera=False in val_evaluator and "
                                          r"test_evaluator$"):
        ReIDMetric().dataset_meta = meta
    for kept, metric in ((dict(meta, cross_camera_queries=1), ReIDMetric()),
                         (meta, ReIDMetric(exclude_same_camera=False))):
        metric.dataset_meta = kept
        assert metric.dataset_meta == kept


def test_tpr_needs_targets_and_distances_without_nan():
    with pytest.raises(ValueError, match=r'one or more in \(0, 1\], got \[\]'):
        tpr_at_fpr(DISTMAT, **LABELS, fpr_targets=())
    with_nan = DISTMAT.copy()
    with_nan[0, 1] = np.nan
    with pytest.raises(ValueError, match='distmat contains NaN values'):
        tpr_at_fpr(with_nan, **LABELS, fpr_targets=(0.5, ))


def test_embeddings_no_distance_ranks_are_refused_in_one_sentence():
    """Of several lengths (a torch.stack error before), holding NaN (named only from the
    distances before), on the meta device (a copy error before)."""
    short = sample([1.0], 2, 1, False)
    with pytest.raises(ValueError, match=re.escape(
            'ReIDMetric got gallery embeddings of the shapes [(1,), (2,)]: a re-ID model '
            'gives every image one embedding of one length')):
        evaluate(ReIDMetric(topk=(1, ), max_rank=3), AQE_CASE + [short])
    nan = sample([math.nan, 0.0], 2, 1, False)
    with pytest.raises(ValueError, match=re.escape(
            'ReIDMetric got a gallery embedding holding NaN or inf values (the first: '
            'gallery image 3), which no distance ranks')):
        evaluate(ReIDMetric(topk=(1, ), max_rank=3), AQE_CASE + [nan])
    meta = dict(sample([1.0, 0.0], 2, 1, False), pred_feature=torch.empty(2, device='meta'))
    with pytest.raises(ValueError, match='^ReIDMetric got an embedding on the meta device'):
        ReIDMetric().process(None, [meta])
