"""The ranked lists of an evaluation's queries, drawn as the evaluation ranks them.

After a re-ID test, the pictures a researcher looks at are the queries' ranked lists: which
gallery images come first, which of them are the query's identity. torchreid draws them
(``visrank``) and fast-reid has a tool for them. Here they come from the mmengine evaluator
itself: :class:`ReIDRankedLists` is a :class:`ReIDMetric` (same options, same distances,
query expansion and re-ranking included, same protocol: no junk, no image of the query's
identity from its own camera) that also draws, from the very distances it scores, so
``tools/test.py --show-dir`` puts it in the place of the config's metric: the same metrics,
the distances (and a re-ranking) computed once, and every picture shows the ranking the
scores count.
"""
import json
import logging
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import mmcv
import numpy as np
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmengine.utils import mkdir_or_exist, track_iter_progress

from rga_mm.errors import ConfigError
from rga_mm.registry import METRICS
from rga_mm.visualization import RankedListVisualizer, unique_stems
from ..functional import distance_topk
from .reid_metric import ReIDMetric, query_and_gallery

RESULTS_FILE = 'ranked_lists.json'
DEFAULT_NUM_QUERIES = 20
# the queries drawn: the first of the test set, or those of lowest (highest) average
# precision first, among the queries the evaluation scores
ORDERS = ('test', 'worst', 'best')
MISSING_PATHS = ("ReIDRankedLists draws the images of the test set, so it needs their paths: "
                 "keep 'img_path' in the meta_keys of the test pipeline's PackInputs")
PLACEHOLDER_GREY = 128  # fills the thumbnail of an image that cannot be read when drawn


@METRICS.register_module()
class ReIDRankedLists(ReIDMetric):
    """:class:`ReIDMetric` that also draws ``num_queries`` queries' ranked lists.

    The queries drawn are, by ``order``: ``'test'``, the first ones of the test set;
    ``'worst'``, those of lowest average precision first, as fast-reid's result visualiser
    sorts them to show where a model fails; ``'best'``, highest first (equal APs in test-set
    order). ``'worst'`` and ``'best'`` choose among the queries the evaluation scores (those
    with a true match in the gallery), keeping each query's list and AP while the distances
    stream past (a few numbers per query, never a (Q, G) matrix).

    For each query drawn (in that order) it writes ``<stem>.png`` into
    ``out_dir``: the query, then its ``list_length`` nearest gallery images with rank and
    distance, framed green (the query's identity) or red
    (:class:`~rga_mm.visualization.RankedListVisualizer`); and, for all of them,
    ``ranked_lists.json``: per query its path, identity, camera, average precision (None
    without a true match in the gallery) and the results' paths, distances, identities and
    cameras, and the name of its picture (``<stem>.png``, a query whose file stem an
    earlier query has gets ``<stem>_2.png`` and so on). It returns :class:`ReIDMetric`'s
    metrics, computed from the same streamed distances the lists are cut from. An image that
    cannot be read when drawn (moved or damaged since the test read it) is drawn grey, with a
    warning naming it.

    Args:
        out_dir: folder for the pictures and the JSON file (created).
        num_queries: the queries drawn; 1 or more.
        order: which queries are drawn, one of ``ORDERS`` (above).
        list_length: results drawn per query; 1 or more (fewer when the protocol leaves
            fewer gallery images).
        thumbnail_size: (height, width) of every image in a picture.
        **metric_options: :class:`ReIDMetric`'s arguments, which rank the gallery.
    """

    def __init__(self, out_dir: str, num_queries: int = DEFAULT_NUM_QUERIES,
                 order: str = 'test', list_length: int = 10,
                 thumbnail_size: tuple[int, int] = (128, 64), **metric_options: Any) -> None:
        super().__init__(**metric_options)
        for name, value in (('num_queries', num_queries), ('list_length', list_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'ReIDRankedLists: {name} must be an integer of 1 or more, '
                                  f'got {value!r}')
        if order not in ORDERS:
            raise ConfigError(f'ReIDRankedLists: order must be one of {ORDERS}, got {order!r}')
        self.out_dir = str(out_dir)
        self.num_queries = num_queries
        self.order = order
        self.list_length = list_length
        self.visualizer = RankedListVisualizer(name='reid_ranked_lists',
                                               thumbnail_size=thumbnail_size)
        # per chunk of queries kept: (q, k) distances and gallery indices of the lists, (q,) APs
        self._kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def process(self, data_batch: Any, data_samples: Sequence[BaseDataElement | dict]) -> None:
        """:meth:`ReIDMetric.process`, keeping each sample's ``img_path`` as well."""
        first = len(self.results)
        super().process(data_batch, data_samples)
        for result, sample in zip(self.results[first:], data_samples):
            img_path = sample.get('img_path')
            if img_path is None:
                raise ConfigError(MISSING_PATHS)
            result['img_path'] = img_path

    def _metrics(self, results: list[dict]) -> dict[str, float]:
        """:class:`ReIDMetric`'s metrics, then the pictures and ``ranked_lists.json``."""
        query, gallery = query_and_gallery(results)
        self._kept = []
        metrics = super()._metrics(results)  # streams the distances through _ranked
        top_distances, top_indices, average_precision = (
            np.concatenate(kept) for kept in zip(*self._kept))
        lists = [self._ranked_list(query[row], gallery, top_distances[row], top_indices[row],
                                   average_precision[row])
                 for row in self._drawn_queries(average_precision)]
        mkdir_or_exist(self.out_dir)
        stems = unique_stems([entry['query'] for entry in lists])
        for entry, stem in zip(lists, stems):
            entry['picture'] = f'{stem}.png'
        with open(osp.join(self.out_dir, RESULTS_FILE), 'w', encoding='utf-8') as file:
            json.dump(lists, file, indent=1)
        unreadable: list[str] = []
        for entry in track_iter_progress(lists):
            mmcv.imwrite(self._picture(entry, unreadable),
                         osp.join(self.out_dir, entry['picture']))
        print_log(f'ranked lists of {len(lists)} queries drawn in {self.out_dir}',
                  logger='current')
        if unreadable:
            count = '1 image' if len(unreadable) == 1 else f'{len(unreadable)} images'
            print_log(f'{count} could not be read when drawn (grey in the pictures), the '
                      f'first: {unreadable[0]}', logger='current', level=logging.WARNING)
        return metrics

    def _ranked(self, rows: slice, distances: np.ndarray, average_precision: np.ndarray,
                labels: tuple[np.ndarray, ...]) -> None:
        """Keep the lists and APs of the chunk's queries that may be drawn: all of them for
        ``order='worst'`` or ``'best'``, those among the first ``num_queries`` for
        ``'test'`` (the chunks come in query order)."""
        kept = len(distances)
        if self.order == 'test':
            kept = min(kept, self.num_queries - rows.start)
        if kept <= 0:
            return
        query_ids, gallery_ids, query_cams, gallery_cams = labels
        first = rows.start
        top_distances, top_indices = distance_topk(
            distances[:kept], min(self.list_length, len(gallery_ids)),
            query_ids[first:first + kept], gallery_ids, query_cams[first:first + kept],
            gallery_cams)
        self._kept.append((top_distances.numpy(), top_indices.numpy(),
                           average_precision[:kept]))

    def _drawn_queries(self, average_precision: np.ndarray) -> list[int]:
        """The queries drawn, in drawing order, from the (q,) APs kept (NaN: no valid
        match)."""
        if self.order == 'test':
            return list(range(len(average_precision)))
        scored = np.flatnonzero(~np.isnan(average_precision))
        key = average_precision[scored] * (1 if self.order == 'worst' else -1)
        return scored[np.argsort(key, kind='stable')][:self.num_queries].tolist()

    @staticmethod
    def _ranked_list(item: dict, gallery: list[dict], top_distances: np.ndarray,
                     top_indices: np.ndarray, average_precision: float) -> dict:
        """One query's entry of ``ranked_lists.json`` from its (k,) list (indices -1 where
        the protocol leaves fewer than k gallery images) and AP in [0, 1] (NaN: none)."""
        results = [(distance, int(index))
                   for distance, index in zip(top_distances, top_indices) if index >= 0]
        return dict(
            query=item['img_path'], identity=item['identity'], camera=item['camera'],
            average_precision=(None if np.isnan(average_precision)
                               else 100 * float(average_precision)),
            # a distance below 0 is rounding (1 - cos of an identical image): given as 0
            results=[dict(path=gallery[index]['img_path'], distance=max(0.0, float(distance)),
                          identity=gallery[index]['identity'],
                          camera=gallery[index]['camera'])
                     for distance, index in results])

    def _picture(self, entry: dict, unreadable: list[str]) -> np.ndarray:
        """One query's ranked list, an (h, w, 3) BGR picture as ``mmcv.imwrite`` takes; an
        image that cannot be read now (moved or damaged since the test read it) is drawn
        grey and its path added to ``unreadable``."""
        results = entry['results']
        images = [_read_rgb(path, unreadable)
                  for path in [entry['query'], *(result['path'] for result in results)]]
        picture = self.visualizer.draw_ranked_list(
            images[0], images[1:], [result['distance'] for result in results],
            [result['identity'] == entry['identity'] for result in results])
        return np.ascontiguousarray(picture[..., ::-1])


def _read_rgb(path: str, unreadable: list[str]) -> np.ndarray:
    """The RGB image at ``path``, or a grey square where it cannot be read (``path`` is then
    added to ``unreadable``)."""
    try:
        image = mmcv.imread(path, channel_order='rgb')
    except (OSError, ValueError, cv2.error):
        image = None
    if image is None:
        unreadable.append(path)
        return np.full((8, 8, 3), PLACEHOLDER_GREY, np.uint8)
    return image
