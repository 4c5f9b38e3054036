"""ReIDRankedLists draws the ranked lists the evaluation scores: hand-worked lists, APs and
frames, the same ranking as ReIDMetric under re-ranking, and its refusals."""
import json

import mmcv
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample

from rga_mm.errors import ConfigError
from rga_mm.evaluation import ReIDMetric
from rga_mm.evaluation.metrics import ReIDRankedLists
from rga_mm.evaluation.metrics.ranked_lists import PLACEHOLDER_GREY
from rga_mm.visualization import RankedListVisualizer
from rga_mm.visualization.ranked_list import FRAME_WIDTH, LABEL_HEIGHT, MATCH_COLOURS

# (feature on a line, identity, camera); Euclidean distances are differences of positions
QUERIES = [(0.0, 1, 0), (10.0, 2, 0), (30.0, 3, 1)]
GALLERY = [(0.5, 1, 0), (1.0, 2, 1), (2.0, 1, 1), (9.0, 2, 1), (20.0, 3, 1)]
THUMBNAIL = (16, 8)


def _samples(tmp_path, with_paths=True):
    """Data samples as a re-ID dataset and the model fill them, each image a file whose
    grey level is its position in the test set."""
    samples = []
    for index, (position, identity, camera) in enumerate(QUERIES + GALLERY):
        path = tmp_path / 'images' / f'{index:02d}.png'
        mmcv.imwrite(np.full((32, 16, 3), 10 * index, np.uint8), str(path))
        metainfo = dict(camera_id=camera, is_query=index < len(QUERIES))
        if with_paths:
            metainfo['img_path'] = str(path)
        sample = DataSample(metainfo=metainfo)
        sample.set_gt_label(identity)
        sample.set_field(torch.tensor([position, 0.0]), 'pred_feature')
        samples.append(sample)
    return samples


def _draw(tmp_path, **options):
    """The lists drawn with ``options``; asserts that the metrics are ReIDMetric's."""
    drawing = [name for name in ('num_queries', 'list_length', 'order') if name in options]
    metric = ReIDRankedLists(out_dir=str(tmp_path / 'show'), thumbnail_size=THUMBNAIL,
                             **options)
    scoring = ReIDMetric(**{k: v for k, v in options.items() if k not in drawing})
    for each in (metric, scoring):
        each.process({}, _samples(tmp_path))
    size = len(QUERIES) + len(GALLERY)
    assert metric.evaluate(size) == scoring.evaluate(size)
    return json.loads((tmp_path / 'show' / 'ranked_lists.json').read_text())


def _gallery_index(result):
    return int(result['path'][-6:-4]) - len(QUERIES)


def test_lists_aps_and_frames_are_the_hand_worked_ones(tmp_path):
    lists = _draw(tmp_path, distance='euclidean', list_length=3)
    # query 0 (id 1, camera 0): g0 is its identity from its own camera, left out; g2 is the
    # one true match, second: AP 1/2. Query 1 (id 2): matches g3 first and g1 third:
    # AP (1/1 + 2/3) / 2. Query 2 (id 3, camera 1): its one gallery image, g4, is from its
    # own camera, so left out, and it has no AP.
    assert [[_gallery_index(r) for r in entry['results']] for entry in lists] == [
        [1, 2, 3], [3, 2, 1], [3, 2, 1]]
    assert [[r['distance'] for r in entry['results']] for entry in lists] == [
        [1.0, 2.0, 9.0], [1.0, 8.0, 9.0], [21.0, 28.0, 29.0]]
    assert lists[0]['average_precision'] == 50.0
    assert lists[1]['average_precision'] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert lists[2]['average_precision'] is None
    assert [(e['identity'], e['camera']) for e in lists] == [(1, 0), (2, 0), (3, 1)]
    assert [e['picture'] for e in lists] == ['00.png', '01.png', '02.png']

    picture = mmcv.imread(str(tmp_path / 'show' / '00.png'), channel_order='rgb')
    visualizer = RankedListVisualizer(thumbnail_size=THUMBNAIL)
    assert picture.shape[:2] == visualizer.canvas_size(3)
    panel = THUMBNAIL[1] + 2 * FRAME_WIDTH
    lefts = [panel + 16 + rank * (panel + 4) for rank in range(3)]  # after the query gap
    frames = [tuple(picture[LABEL_HEIGHT, left + 1]) for left in lefts]
    assert frames == [MATCH_COLOURS[False], MATCH_COLOURS[True], MATCH_COLOURS[False]]
    # the thumbnail inside the first frame is g1's image (grey level 10 × its index)
    inside = picture[LABEL_HEIGHT + FRAME_WIDTH + 4, lefts[0] + FRAME_WIDTH + 4]
    assert tuple(inside) == (10 * (len(QUERIES) + 1),) * 3


@pytest.mark.parametrize('memory_mb', [256, 1e-6])  # all queries in one chunk, or one each
def test_only_the_first_queries_are_drawn_and_lists_stop_at_the_gallery(tmp_path, memory_mb):
    lists = _draw(tmp_path, distance='euclidean', num_queries=2, list_length=50,
                  memory_mb=memory_mb)
    assert [[r['distance'] for r in entry['results']] for entry in lists] == [
        [1.0, 2.0, 9.0, 20.0], [1.0, 8.0, 9.0, 9.5, 10.0]]
    assert [entry['query'][-6:] for entry in lists] == ['00.png', '01.png']
    assert sorted(p.name for p in (tmp_path / 'show').iterdir()) == [
        '00.png', '01.png', 'ranked_lists.json']
    assert [len(entry['results']) for entry in lists] == [4, 5]  # g0 left out for query 0


@pytest.mark.parametrize('memory_mb', [256, 1e-6])  # all queries in one chunk, or one each
def test_worst_and_best_order_the_scored_queries_by_average_precision(tmp_path, memory_mb):
    """APs of the hand-worked case: query 0 50 %, query 1 83.3 %, query 2 none (not scored,
    so never drawn in these orders, which choose among the scored queries)."""
    def drawn(order, num_queries):
        lists = _draw(tmp_path / f'{order}{num_queries}', distance='euclidean', order=order,
                      num_queries=num_queries, memory_mb=memory_mb)
        return [(entry['query'][-6:], entry['average_precision']) for entry in lists]

    worst = [('00.png', 50.0), ('01.png', pytest.approx(100 * (1 + 2 / 3) / 2))]
    assert drawn('worst', 5) == worst
    assert drawn('best', 5) == worst[::-1]
    assert drawn('worst', 1) == worst[:1]
    assert drawn('best', 1) == worst[1:]
    assert drawn('test', 3)[2] == ('02.png', None)


def test_the_lists_follow_the_metrics_ranking_with_re_ranking(tmp_path):
    """Under re-ranking the order is the re-ranked one the metric scores: drawn APs of all
    queries average to the metric's mAP."""
    options = dict(distance='euclidean', rerank=True, k1=3, k2=2)
    lists = _draw(tmp_path, list_length=5, **options)
    metric = ReIDMetric(**options)
    metric.process({}, _samples(tmp_path))
    scores = metric.evaluate(len(QUERIES) + len(GALLERY))  # what _draw's metric returned
    aps = [e['average_precision'] for e in lists if e['average_precision'] is not None]
    assert len(aps) == scores['reid/num_query'] == 2
    assert np.mean(aps) == pytest.approx(scores['reid/mAP'])
    plain = _draw(tmp_path / 'plain', distance='euclidean', list_length=5)
    assert ([[r['distance'] for r in e['results']] for e in lists]
            != [[r['distance'] for r in e['results']] for e in plain])


def test_samples_without_paths_and_bad_counts_are_refused(tmp_path):
    metric = ReIDRankedLists(out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="keep 'img_path' in the meta_keys"):
        metric.process({}, _samples(tmp_path, with_paths=False))
    for options in (dict(num_queries=0), dict(list_length=2.5), dict(num_queries=True)):
        with pytest.raises(ConfigError, match='must be an integer of 1 or more'):
            ReIDRankedLists(out_dir=str(tmp_path), **options)
    with pytest.raises(ConfigError, match="order must be one of .*'worst'.*, got 'lowest'"):
        ReIDRankedLists(out_dir=str(tmp_path), order='lowest')


def test_an_image_gone_before_drawing_is_grey_and_named(tmp_path, caplog):
    """The metrics come before the pictures: an image moved since the test read it must not
    cost them, so it is drawn grey, with a warning naming it."""
    metric = ReIDRankedLists(out_dir=str(tmp_path / 'show'), thumbnail_size=THUMBNAIL,
                             distance='euclidean', list_length=3, num_queries=1)
    metric.process({}, _samples(tmp_path))
    gone = tmp_path / 'images' / f'{len(QUERIES) + 1:02d}.png'  # g1, query 0's first result
    gone.unlink()
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    try:
        assert metric.evaluate(len(QUERIES) + len(GALLERY))['reid/num_query'] == 2
    finally:
        logger.removeHandler(caplog.handler)
    assert f'1 image could not be read when drawn (grey in the pictures), the first: ' \
           f'{gone}' in caplog.text
    picture = mmcv.imread(str(tmp_path / 'show' / '00.png'), channel_order='rgb')
    panel = THUMBNAIL[1] + 2 * FRAME_WIDTH
    inside = picture[LABEL_HEIGHT + FRAME_WIDTH + 4, panel + 16 + FRAME_WIDTH + 4]
    assert tuple(inside) == (PLACEHOLDER_GREY,) * 3
