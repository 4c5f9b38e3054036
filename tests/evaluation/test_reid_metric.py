"""ReIDMetric: the mmengine shell around pairwise_distance, re-ranking and rank_metrics."""
import logging
import re

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample

from rga_mm.datasets import DatasetError
from rga_mm.errors import ConfigError
from rga_mm.evaluation import ReIDMetric, k_reciprocal_rerank, rank_metrics
from rga_mm.evaluation.functional import pairwise_distance, tpr_at_fpr
from rga_mm.evaluation.metrics import reid_metric


def sample(feature, identity, camera, is_query):
    """A data sample as a re-ID dataset and the model fill it."""
    data = DataSample(metainfo=dict(camera_id=camera, is_query=is_query))
    data.set_gt_label(identity)
    data.set_field(torch.tensor(feature, dtype=torch.float32), 'pred_feature')
    return data


# query (id 1) = [1, 0]; g0 (id 1) points the same way but is far; g1 (id 2) is near
COSINE_VS_EUCLIDEAN = [sample([1.0, 0.0], 1, 0, True), sample([10.0, 1.0], 1, 1, False),
                       sample([0.9, 0.5], 2, 1, False)]


@pytest.mark.parametrize('distance, mean_ap', [('cosine', 100.0), ('euclidean', 50.0)])
def test_cosine_and_euclidean_rankings(distance, mean_ap):
    metric = ReIDMetric(distance=distance, topk=(1, 2), max_rank=2)
    metric.process(None, [s.to_dict() for s in COSINE_VS_EUCLIDEAN])
    result = metric.evaluate(size=3)
    assert result == {'reid/mAP': mean_ap, 'reid/mINP': mean_ap,
                      'reid/rank1': 100.0 if distance == 'cosine' else 0.0,
                      'reid/rank2': 100.0, 'reid/num_query': 1, 'reid/num_query_skipped': 0,
                      'reid/num_gallery': 2}


class _Lines(logging.Handler):
    """The messages logged to the logger it is added to."""

    def __init__(self) -> None:
        super().__init__()
        self.lines = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_skipped_queries_are_reported_apart_from_the_evaluated_ones():
    """q0 (id 1, cam 0) has its match g0 (cam 1) first: AP = INP = 1. q1 (id 2, cam 1): its
    only gallery image g1 is in its own camera → skipped. q2 (id 7): not in the gallery →
    skipped. num_query counts q0 alone, the skipped two are reported apart, and the scores
    are q0's (skipped queries are not scored as zeros)."""
    samples = [sample([1.0, 0.0], 1, 0, True), sample([0.0, 1.0], 2, 1, True),
               sample([1.0, 1.0], 7, 0, True),
               sample([1.0, 0.1], 1, 1, False), sample([0.0, 1.0], 2, 1, False)]
    metric = ReIDMetric(topk=(1, ), max_rank=2)
    metric.process(None, [s.to_dict() for s in samples])
    logger, lines = MMLogger.get_current_instance(), _Lines()
    logger.addHandler(lines)
    try:
        assert metric.evaluate(size=5) == {
            'reid/mAP': 100.0, 'reid/mINP': 100.0, 'reid/rank1': 100.0, 'reid/num_query': 1,
            'reid/num_query_skipped': 2, 'reid/num_gallery': 2}
    finally:
        logger.removeHandler(lines)
    # custom data can hold such queries; the public benchmarks do not, so it is said
    assert lines.lines == ['ReIDMetric: 2 of 3 queries have no gallery image of their identity '
                           'from another camera, so they are left out of every score '
                           '(reid/num_query_skipped)']


@pytest.mark.parametrize('field, value, shown', [
    ('gt_label', torch.tensor([3.7]), r'tensor\(\[3\.7000\]\)'),
    # an integral float is refused too: it is no more trustworthy than 3.7
    ('gt_label', torch.tensor([3.0]), r'tensor\(\[3\.\]\)'),
    ('gt_label', 3.0, r'3\.0'),
    ('gt_label', torch.tensor([3, 4]), r'tensor\(\[3, 4\]\)'),
    ('camera_id', 1.5, r'1\.5'),
])
def test_non_integer_identity_or_camera_is_an_error_naming_the_image(field, value, shown):
    data = dict(COSINE_VS_EUCLIDEAN[0].to_dict(), img_path='query/0003_c1s1_000151_00.jpg')
    data[field] = value
    with pytest.raises(ValueError, match=f'ReIDMetric: {field} of query/0003_c1s1_000151_00'
                                         f'\\.jpg is {shown}; .* must be single integers'):
        ReIDMetric().process(None, [data])


def test_integer_identities_of_any_integer_type_are_accepted():
    data = [s.to_dict() for s in COSINE_VS_EUCLIDEAN]
    data[0]['gt_label'], data[1]['gt_label'] = 1, np.int32(1)
    data[2]['gt_label'] = torch.tensor(2, dtype=torch.int32)
    metric = ReIDMetric(distance='cosine', topk=(1, 2), max_rank=2)
    metric.process(None, data)
    assert metric.evaluate(size=3)['reid/mAP'] == 100.0


def random_samples(seed, num_query=12, num_gallery=40):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(num_query + num_gallery, 8, generator=generator)
    identities = torch.randint(0, 5, (num_query + num_gallery, ), generator=generator)
    cameras = torch.randint(0, 3, (num_query + num_gallery, ), generator=generator)
    return [sample(f.tolist(), int(i), int(c), n < num_query)
            for n, (f, i, c) in enumerate(zip(features, identities, cameras))]


def expected_distances(query, gallery, distance, rerank):
    """The final (Q, G) distances, re-ranked from the three dense matrices."""

    def features(items):
        return torch.stack([s.pred_feature for s in items])

    distmat = pairwise_distance(features(query), features(gallery), distance).numpy()
    if rerank:
        distmat = k_reciprocal_rerank(
            distmat, pairwise_distance(features(query), features(query), distance).numpy(),
            pairwise_distance(features(gallery), features(gallery), distance).numpy())
    return distmat


def expected(samples, distance, rerank):
    query = [s for s in samples if s.is_query]
    gallery = [s for s in samples if not s.is_query]
    distmat = expected_distances(query, gallery, distance, rerank)
    return rank_metrics(distmat, [int(s.gt_label) for s in query],
                        [int(s.gt_label) for s in gallery], [s.camera_id for s in query],
                        [s.camera_id for s in gallery])


@pytest.mark.parametrize('rerank', [False, True])
def test_reports_rank_metrics_in_percent(rerank):
    samples = random_samples(0)
    metric = ReIDMetric(distance='euclidean', rerank=rerank)
    metric.process(None, [s.to_dict() for s in samples])
    result = metric.evaluate(size=len(samples))
    scores = expected(samples, 'euclidean', rerank)
    assert result['reid/mAP'] == pytest.approx(100 * scores['mAP'])
    assert result['reid/mINP'] == pytest.approx(100 * scores['mINP'])
    for k in (1, 5, 10):
        assert result[f'reid/rank{k}'] == pytest.approx(100 * scores['cmc'][k - 1])


def test_plain_ranking_a_chunk_of_queries_at_a_time_scores_the_whole_matrix(monkeypatch):
    """A budget of three queries' distances per chunk: four chunks of the 12 queries, and
    the scores of the whole (Q, G) matrix."""
    samples = random_samples(2)
    chunk_sizes, distances = [], reid_metric.pairwise_distance

    def counted(query, gallery, metric):
        chunk_sizes.append(query.shape[0])
        return distances(query, gallery, metric)

    monkeypatch.setattr(reid_metric, 'pairwise_distance', counted)
    metric = ReIDMetric(memory_mb=3 * 4 * 40 / 2**20)  # 40 gallery items, float32
    metric.process(None, [s.to_dict() for s in samples])
    result = metric.evaluate(size=len(samples))
    assert chunk_sizes == [3, 3, 3, 3]
    scores = expected(samples, 'cosine', rerank=False)
    assert result['reid/mAP'] == pytest.approx(100 * scores['mAP'])
    assert result['reid/mINP'] == pytest.approx(100 * scores['mINP'])
    assert result['reid/rank1'] == pytest.approx(100 * scores['cmc'][0])


def test_rerank_a_chunk_of_queries_at_a_time_scores_the_whole_matrix(monkeypatch):
    """A budget of a few queries per chunk: the scores and TPR@FPR are those of the whole
    re-ranked matrix."""
    samples = random_samples(4)
    chunk_sizes, rerank_chunks = [], reid_metric.k_reciprocal_rerank_chunks

    def counted(*args, **kwargs):
        for rows, distances in rerank_chunks(*args, **kwargs):
            chunk_sizes.append(distances.shape[0])
            yield rows, distances

    monkeypatch.setattr(reid_metric, 'k_reciprocal_rerank_chunks', counted)
    metric = ReIDMetric(rerank=True, memory_mb=0.02, tpr_at_fpr=(0.05, 0.2))
    metric.process(None, [s.to_dict() for s in samples])
    result = metric.evaluate(size=len(samples))
    assert len(chunk_sizes) > 1 and sum(chunk_sizes) == 12

    query = [s for s in samples if s.is_query]
    gallery = [s for s in samples if not s.is_query]
    distmat = expected_distances(query, gallery, 'cosine', rerank=True)
    labels = ([int(s.gt_label) for s in query], [int(s.gt_label) for s in gallery],
              [s.camera_id for s in query], [s.camera_id for s in gallery])
    scores = rank_metrics(distmat, *labels)
    assert result['reid/mAP'] == pytest.approx(100 * scores['mAP'])
    assert result['reid/rank1'] == pytest.approx(100 * scores['cmc'][0])
    rates = tpr_at_fpr(distmat, *labels, fpr_targets=(0.05, 0.2))
    assert result['reid/TPR@FPR=5e-2'] == pytest.approx(100 * rates[0.05])
    assert result['reid/TPR@FPR=2e-1'] == pytest.approx(100 * rates[0.2])


def test_rerank_budget_too_small_is_named():
    metric = ReIDMetric(rerank=True, memory_mb=0.001)
    metric.process(None, [s.to_dict() for s in random_samples(0)])
    with pytest.raises(ValueError, match='cannot hold one row of work over 52 images'):
        metric.evaluate(size=52)


def test_padding_of_the_distributed_sampler_is_dropped():
    """mmengine pads the last ranks with repeats of the first items; ``size`` trims them."""
    samples = random_samples(1)
    plain, padded = ReIDMetric(), ReIDMetric()
    plain.process(None, [s.to_dict() for s in samples])
    padded.process(None, [s.to_dict() for s in samples + samples[:3]])
    assert padded.evaluate(size=len(samples)) == plain.evaluate(size=len(samples))


def test_result_order_does_not_matter():
    samples = random_samples(2)
    order = np.random.default_rng(0).permutation(len(samples))
    straight, shuffled = ReIDMetric(), ReIDMetric()
    straight.process(None, [s.to_dict() for s in samples])
    shuffled.process(None, [samples[i].to_dict() for i in order])
    assert shuffled.evaluate(len(samples)) == straight.evaluate(len(samples))


def test_data_the_protocol_cannot_rank_is_a_dataset_error():
    """A DatasetError, which tools/test.py prints as its sentence alone."""
    metric = ReIDMetric()
    metric.process(None, [s.to_dict() for s in random_samples(3) if not s.is_query])
    with pytest.raises(DatasetError, match='got 0 query and 40 gallery items'):
        metric.evaluate(size=40)
    metric = ReIDMetric(rerank=True, k1=60)
    metric.process(None, [s.to_dict() for s in random_samples(0)])
    with pytest.raises(DatasetError, match=r're-ranking needs 1 <= k1 <= 51'):
        metric.evaluate(size=52)


def test_one_rank_may_be_given_as_an_int():
    samples = [s.to_dict() for s in random_samples(0)]
    one, listed = ReIDMetric(topk=5), ReIDMetric(topk=(5, ))
    one.process(None, samples)
    listed.process(None, samples)
    result = one.evaluate(size=len(samples))
    assert result == listed.evaluate(size=len(samples))
    assert [key for key in result if 'rank' in key] == ['reid/rank5']


def test_missing_feature_is_named():
    data = COSINE_VS_EUCLIDEAN[0].to_dict()
    del data['pred_feature']
    with pytest.raises(KeyError, match='pred_feature'):
        ReIDMetric().process(None, [data])


def test_bad_arguments():
    with pytest.raises(ValueError, match="distance must be one of"):
        ReIDMetric(distance='manhattan')
    # rank0 would read cmc[-1]; True is an int to Python but no rank
    for topk in ((1, 10), (0, 1), (-2, ), (), (1.5, ), True, (True, 5)):
        with pytest.raises(ValueError, match=r'topk takes one or more ranks from 1 to '
                           r'max_rank \(5\), got'):
            ReIDMetric(topk=topk, max_rank=5)
    ranks = ReIDMetric(topk=(np.int64(1), 5), max_rank=5).topk
    assert ranks == (1, 5) and all(type(rank) is int for rank in ranks)


@pytest.mark.parametrize('option', ['rerank', 'aqe', 'exclude_same_camera'])
@pytest.mark.parametrize('value, shown', [('Ture', r"'Ture' \(str\)"),
                                          ('False', r"'False' \(str\)"),
                                          (1, r'1 \(int\)'), (None, r'None \(NoneType\)')])
def test_switches_take_true_or_false_only(option, value, shown):
    """A mistyped ``--cfg-options val_evaluator.rerank=Ture`` arrives as the string 'Ture',
    which is truthy: it would silently switch re-ranking on."""
    with pytest.raises(ConfigError, match=rf'^ReIDMetric: {option} takes True or False, got '
                                          rf'{shown}; set {option}=True or {option}=False$'):
        ReIDMetric(**{option: value})


def test_an_option_it_does_not_take_is_named_with_the_closest():
    """mmengine's BaseMetric refused it with a TypeError traceback through the tools."""
    with pytest.raises(ConfigError, match=r"^ReIDMetric takes no option 'rernak'; did you mean "
                                          r"'rerank'\? Its options: distance, rerank, k1, "):
        ReIDMetric(rernak=True)
    with pytest.raises(ConfigError, match=r"^ReIDMetric takes no option 'xyz'\. Its options: "
                                          r".*, collect_device, prefix, collect_dir$"):
        ReIDMetric(xyz=1)
    assert ReIDMetric(prefix='market', collect_device='cpu').prefix == 'market'


def test_switches_accept_bools_of_python_and_numpy():
    metric = ReIDMetric(rerank=np.bool_(True), aqe=False, exclude_same_camera=True)
    assert metric.rerank and not metric.aqe and metric.exclude_same_camera


def test_rerank_logs_its_start_and_end_to_the_current_logger():
    """Re-ranking at MSMT17's size takes minutes after the test loop's last progress line."""
    samples = random_samples(4)
    logger, lines = MMLogger.get_current_instance(), _Lines()
    logger.addHandler(lines)
    try:
        metric = ReIDMetric(rerank=True)
        metric.process(None, [s.to_dict() for s in samples])
        metric.evaluate(size=len(samples))
    finally:
        logger.removeHandler(lines)
    num_query = sum(bool(s.is_query) for s in samples)
    assert lines.lines[0] == (f're-ranking {num_query} queries (k-reciprocal neighbours of '
                              f'every query and gallery image first)')
    assert re.fullmatch(rf'found the 21 nearest of each of {len(samples)} query and gallery '
                        r'images in \d+ s', lines.lines[1])  # k1 + 1 = 21 of the defaults
    assert re.fullmatch(r'encoded the k-reciprocal neighbourhoods \(\d+ weights\) in \d+ s',
                        lines.lines[2])
    assert lines.lines[-1].startswith(f're-ranked {num_query} queries in ')
