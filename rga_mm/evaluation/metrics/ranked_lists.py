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
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import mmcv
import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmengine.utils import mkdir_or_exist, track_iter_progress

from rga_mm.errors import ConfigError
from rga_mm.registry import METRICS
from rga_mm.visualization import RankedListVisualizer, unique_stems
from ..functional import distance_topk, rank_metrics
from .reid_metric import ReIDMetric

RESULTS_FILE = 'ranked_lists.json'
DEFAULT_NUM_QUERIES = 20
MISSING_PATHS = ("ReIDRankedLists draws the images of the test set, so it needs their paths: "
                 "keep 'img_path' in the meta_keys of the test pipeline's PackInputs")
PLACEHOLDER_GREY = 128  # fills the thumbnail of an image that cannot be read when drawn


@METRICS.register_module()
class ReIDRankedLists(ReIDMetric):
    """:class:`ReIDMetric` that also draws the first ``num_queries`` queries' ranked lists.

    For each of those queries (in the order of the test set) it writes ``<stem>.png`` into
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
        num_queries: the queries drawn, the first ones of the test set; 1 or more.
        list_length: results drawn per query; 1 or more (fewer when the protocol leaves
            fewer gallery images).
        thumbnail_size: (height, width) of every image in a picture.
        **metric_options: :class:`ReIDMetric`'s arguments, which rank the gallery.
    """

    def __init__(self, out_dir: str, num_queries: int = DEFAULT_NUM_QUERIES,
                 list_length: int = 10,
                 thumbnail_size: tuple[int, int] = (128, 64), **metric_options: Any) -> None:
        super().__init__(**metric_options)
        for name, value in (('num_queries', num_queries), ('list_length', list_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'ReIDRankedLists: {name} must be an integer of 1 or more, '
                                  f'got {value!r}')
        self.out_dir = str(out_dir)
        self.num_queries = num_queries
        self.list_length = list_length
        self.visualizer = RankedListVisualizer(name='reid_ranked_lists',
                                               thumbnail_size=thumbnail_size)
        self._drawn_rows: list[np.ndarray] = []  # distances of the drawn queries, by chunk

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
        self._drawn_rows = []
        metrics = super()._metrics(results)  # streams the distances through _distances
        query = [item for item in results if item['is_query']]
        gallery = [item for item in results if not item['is_query']]
        lists = self._ranked_lists(query, gallery, np.concatenate(self._drawn_rows))
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

    def _distances(self, query: torch.Tensor,
                   gallery: torch.Tensor) -> Iterable[tuple[slice, np.ndarray]]:
        """:meth:`ReIDMetric._distances`, keeping the rows of the queries drawn as they pass
        (the chunks come in query order)."""
        for rows, distances in super()._distances(query, gallery):
            if rows.start < self.num_queries:
                self._drawn_rows.append(distances[:self.num_queries - rows.start].copy())
            yield rows, distances

    def _ranked_lists(self, query: list[dict], gallery: list[dict],
                      distances: np.ndarray) -> list[dict]:
        """The lists of the first queries from their (q, G) ``distances``."""
        drawn = len(distances)
        query_ids = np.array([item['identity'] for item in query])
        gallery_ids = np.array([item['identity'] for item in gallery])
        query_cams, gallery_cams = self._cameras(
            np.array([item['camera'] for item in query]),
            np.array([item['camera'] for item in gallery]))
        top_distances, top_indices = distance_topk(
            distances, min(self.list_length, len(gallery)), query_ids[:drawn], gallery_ids,
            query_cams[:drawn], gallery_cams)
        lists = []
        for row, item in enumerate(query[:drawn]):
            results = [int(i) for i in top_indices[row] if i >= 0]
            lists.append(dict(
                query=item['img_path'], identity=item['identity'], camera=item['camera'],
                average_precision=self._average_precision(
                    distances[row], query_ids[row], query_cams[row], gallery_ids, gallery_cams),
                # a distance below 0 is rounding (1 - cos of an identical image): given as 0
                results=[dict(path=gallery[i]['img_path'],
                              distance=max(0.0, float(top_distances[row, rank])),
                              identity=int(gallery_ids[i]), camera=int(gallery[i]['camera']))
                         for rank, i in enumerate(results)]))
        return lists

    @staticmethod
    def _average_precision(distances: np.ndarray, query_id: int, query_cam: int,
                           gallery_ids: np.ndarray, gallery_cams: np.ndarray) -> float | None:
        """One query's AP in percent, as the evaluation computes it; None without a true
        match in the gallery (an image of its identity from another camera)."""
        if not np.any((gallery_ids == query_id) & (gallery_cams != query_cam)):
            return None
        return 100 * rank_metrics(distances[None], np.array([query_id]), gallery_ids,
                                  np.array([query_cam]), gallery_cams, max_rank=1)['mAP']

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
