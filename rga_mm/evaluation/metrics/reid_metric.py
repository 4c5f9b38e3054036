"""The re-ID metric of the mmengine evaluator: gathers embeddings, ranks the gallery."""
import logging
import math
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from rga_mm.checks import constructor_arguments, is_flag, is_int, is_number, positive_int
from rga_mm.errors import ConfigError, DatasetError, closest_choice_hint
from rga_mm.registry import METRICS
from ..functional import (
    RankAccumulator,
    TprAccumulator,
    average_query_expansion,
    k_reciprocal_rerank_chunks,
    pairwise_distance,
    with_progress,
)
from ..functional.distance import check_distance
from ..functional.rerank import (
    DEFAULT_K1,
    DEFAULT_K2,
    DEFAULT_LAMBDA,
    DEFAULT_MAX_MEMORY_BYTES,
)

REQUIRED_FIELDS = ('pred_feature', 'gt_label', 'camera_id', 'is_query')


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """CMC, mAP and mINP of query-to-gallery retrieval (protocol: ``functional/rank.py``).

    ``process`` keeps, per data sample, the embedding ``pred_feature`` (1-D tensor, set by
    the model), the identity ``gt_label``, and the metainfo ``camera_id`` and ``is_query``
    (set by the datasets' ``split='test'``). After mmengine has collected the results of all
    ranks (dropping the sampler's padding), ``compute_metrics`` computes the query × gallery
    distances, optionally re-ranks them, and scores them as :func:`rank_metrics` does
    (re-ranked distances a chunk of queries at a time, never held whole). Results are in
    percent: ``mAP``, ``mINP`` and ``rank{k}`` for k in ``topk`` (``reid/mAP`` in logs),
    plus three counts: ``num_query``, the queries evaluated (those with a valid match, over
    which the scores are averaged); ``num_query_skipped``, the queries without one; and
    ``num_gallery``, the gallery items received. ``num_query + num_query_skipped`` is the
    number of query items received, each counted once however many ranks evaluated.

    ``gt_label`` and ``camera_id`` must be integers (an int, or a one-element integer
    tensor or array): a float one, even 3.0, is an error naming the value and the image,
    never truncated.

    The switches ``rerank``, ``aqe`` and ``exclude_same_camera`` take True or False only:
    anything else (such as the string ``'Ture'`` from a mistyped ``--cfg-options`` value,
    which is truthy) is a ConfigError naming the option.

    Options, all off by default, applied in this order: query expansion (``aqe``) replaces
    the query embeddings; the distances are computed; re-ranking (``rerank``) replaces
    them; the ranking scores and the verification scores (``tpr_at_fpr``) both read the
    final distances. Flip test-time augmentation is not an option of the metric, which sees
    embeddings only: it is the model's (``ReIDModel(test_cfg=dict(flip=True))``).

    Args:
        distance: ``'cosine'`` (the paper's test setting) or ``'euclidean'``.
        rerank: apply k-reciprocal re-ranking (Zhong et al., CVPR 2017) with ``k1``, ``k2``
            and ``lambda_value``, computed from the embeddings
            (:func:`~rga_mm.evaluation.functional.k_reciprocal_rerank_chunks`) without any
            (Q + G)² or (Q, G) matrix.
        memory_mb: bound, in MiB, on the work arrays of each step: the (rows, G) distances
            of a chunk of queries, and re-ranking's work arrays (its sparse encodings come on
            top; at least 128 bytes per query and gallery image). No (Q, G) matrix is held.
        topk: CMC ranks to report (one int for one rank).
        max_rank: length of the CMC curve computed.
        aqe: replace each query embedding by the weighted mean of itself and its ``aqe_k``
            nearest gallery embeddings, weights cos ** ``aqe_alpha`` (0: a plain mean), then
            L2-normalise (:func:`~rga_mm.evaluation.functional.average_query_expansion`);
            needs ``distance='cosine'``.
        aqe_k, aqe_alpha: its neighbours and exponent (fast-reid's defaults).
        tpr_at_fpr: target false positive rates, e.g. ``(1e-4, 1e-3, 1e-2)``, or one rate;
            for each one
            ``TPR@FPR=1e-4`` (percent) is the true positive rate of query-gallery
            verification at the largest distance threshold whose FPR is at most the target,
            over the pairs the ranking keeps
            (:func:`~rga_mm.evaluation.functional.tpr_at_fpr`). Empty: not computed.
        exclude_same_camera: the protocol's rule that a gallery image of the query's
            identity and camera is no match (and no verification pair). Set it False only for
            data without cameras (every image camera 0), where the rule would remove every
            true match: with it True, single-camera data is a ConfigError, raised when the
            evaluator receives the dataset's metainfo (its ``cameras``, set by the re-ID
            datasets' ``split='test'``), i.e. before training or inference starts, else when
            the metrics are computed.
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``; any other
            keyword is a ConfigError naming the closest option (``rernak`` → ``rerank``),
            where ``BaseMetric`` would end in a TypeError traceback.
    """

    default_prefix = 'reid'

    def __init__(self,
                 distance: str = 'cosine',
                 rerank: bool = False,
                 k1: int = DEFAULT_K1,
                 k2: int = DEFAULT_K2,
                 lambda_value: float = DEFAULT_LAMBDA,
                 memory_mb: float = DEFAULT_MAX_MEMORY_BYTES / 2**20,
                 topk: int | Sequence[int] = (1, 5, 10),
                 max_rank: int = 50,
                 aqe: bool = False,
                 aqe_k: int = 5,
                 aqe_alpha: float = 3.0,
                 tpr_at_fpr: float | Sequence[float] = (),
                 exclude_same_camera: bool = True,
                 **kwargs: Any) -> None:
        _check_options(kwargs)
        super().__init__(**kwargs)
        _check_switches(rerank=rerank, aqe=aqe, exclude_same_camera=exclude_same_camera)
        positive_int(max_rank, 'ReIDMetric max_rank', 'the length of the CMC curve kept')
        topk = _checked_topk(topk, max_rank)
        check_distance(distance, 'distance')
        if not (is_number(memory_mb) and 0 < memory_mb < math.inf):
            raise ConfigError(f'ReIDMetric: memory_mb is the memory budget in MiB of the '
                              f'evaluation\'s chunks, a number above 0, got {memory_mb!r}')
        if rerank:
            _check_rerank_numbers(k1, k2, lambda_value)
        if aqe and distance != 'cosine':
            raise ConfigError(f"ReIDMetric: aqe averages L2-normalised embeddings, which only "
                              f"the cosine distance ranks consistently; use distance='cosine' "
                              f"with it, not {distance!r}")
        if aqe:
            positive_int(aqe_k, 'ReIDMetric aqe_k',
                         'the number of gallery neighbours averaged into each query')
            if not (is_number(aqe_alpha) and 0 <= aqe_alpha < math.inf):
                raise ConfigError(f'ReIDMetric: aqe_alpha weighs the neighbours by their '
                                  f'similarity to the power alpha, a finite number of 0 or '
                                  f'more, got {aqe_alpha!r}')
        tpr_at_fpr = _checked_rates(tpr_at_fpr)
        self.distance = distance
        self.rerank = rerank
        self.max_memory_bytes = int(memory_mb * 2**20)
        self.rerank_args = dict(k1=k1, k2=k2, lambda_value=lambda_value,
                                max_memory_bytes=self.max_memory_bytes)
        self.topk = topk
        self.max_rank = max_rank
        self.aqe = aqe
        self.aqe_args = dict(k=aqe_k, alpha=aqe_alpha)
        self.fpr_targets = tpr_at_fpr
        self.exclude_same_camera = exclude_same_camera

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict | None) -> None:
        """The dataset's metainfo, which mmengine's loops set when they are built (before
        training or inference); under ``exclude_same_camera=True`` it refuses there data from
        a single camera (its ``cameras``) and data whose queries have no gallery image of
        their identity from another camera (its ``cross_camera_queries`` is 0), as a re-ID
        dataset's ``split='test'`` gives them."""
        meta = dataset_meta or {}
        cameras = sorted(set(meta.get('cameras') or ()))
        if self.exclude_same_camera and len(cameras) == 1:
            raise _single_camera_error(cameras[0])
        if self.exclude_same_camera and meta.get('cross_camera_queries') == 0:
            raise ConfigError('ReIDMetric: no query has a gallery image of its identity from '
                              'another camera, so the protocol (no match from the query\'s own '
                              'camera) leaves no true match; give the query identities gallery '
                              'images from other cameras, or set exclude_same_camera=False in '
                              'val_evaluator and test_evaluator')
        self._dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[BaseDataElement | dict]) -> None:
        """Keep each sample's embedding, identity, camera and query flag (the data batch
        itself is not read)."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            missing = [name for name in REQUIRED_FIELDS if name not in sample]
            if missing:
                raise KeyError(f'ReIDMetric needs {missing} in every data sample: the '
                               f'embedding pred_feature comes from the model, the rest '
                               f'from a re-ID dataset with split="test"')
            feature = sample['pred_feature']
            if isinstance(feature, torch.Tensor) and feature.is_meta:
                raise ValueError('ReIDMetric got an embedding on the meta device, which holds '
                                 'no values: evaluate a model whose weights are loaded on a '
                                 'real device')
            self.results.append(dict(
                feature=feature.detach().to('cpu', torch.float32),
                identity=_one_integer(sample, 'gt_label'),
                camera=_one_integer(sample, 'camera_id'),
                is_query=bool(sample['is_query'])))

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """The metrics of the processed ``results``; data the protocol cannot rank (no
        query with a true match, one camera only, fewer images than re-ranking's k1) is a
        :class:`~rga_mm.datasets.DatasetError`, which the tools print as one sentence."""
        try:
            return self._metrics(results)
        except DatasetError:
            raise
        except ValueError as error:
            raise DatasetError(str(error)) from error

    def _metrics(self, results: list[dict]) -> dict[str, float]:
        query, gallery = query_and_gallery(results)
        labels = self._labels(query, gallery)
        query_ids, gallery_ids, query_cams, gallery_cams = labels
        ranking = RankAccumulator(gallery_ids, gallery_cams, max_rank=self.max_rank)
        verification = (TprAccumulator(gallery_ids, gallery_cams, len(query),
                                       self.fpr_targets) if self.fpr_targets else None)
        query_features = stacked_features(query, 'query')
        gallery_features = stacked_features(gallery, 'gallery')
        if query_features.shape[1] != gallery_features.shape[1]:
            raise ValueError(f'ReIDMetric got query embeddings of {query_features.shape[1]} '
                             f'values and gallery embeddings of {gallery_features.shape[1]}: '
                             f'embed the query and the gallery with the same model')
        for rows, distances in self._distances(query_features, gallery_features):
            self._ranked(rows, distances,
                         ranking.add(distances, query_ids[rows], query_cams[rows]), labels)
            if verification is not None:
                verification.add(distances, query_ids[rows], query_cams[rows])
        scores = ranking.result()
        metrics = dict(mAP=100 * scores['mAP'], mINP=100 * scores['mINP'])
        metrics.update({f'rank{k}': 100 * scores['cmc'][k - 1] for k in self.topk})
        if verification is not None:
            metrics.update({f'TPR@FPR={_rate_name(rate)}': 100 * tpr
                            for rate, tpr in verification.result().items()})
        # under distributed evaluation every query and gallery image must be counted
        # exactly once: num_query + num_query_skipped == len(query)
        metrics.update(num_query=scores['num_valid_queries'],
                       num_query_skipped=scores['num_skipped_queries'],
                       num_gallery=len(gallery))
        if scores['num_skipped_queries']:
            self._warn_skipped(scores['num_skipped_queries'], len(query))
        return metrics

    def _warn_skipped(self, skipped: int, num_query: int) -> None:
        """Log that ``skipped`` of the ``num_query`` queries have no valid match and are left
        out of every score (the public benchmarks have none: custom data can)."""
        match = ('gallery image of their identity from another camera'
                 if self.exclude_same_camera else 'gallery image of their identity')
        print_log(f'ReIDMetric: {skipped} of {num_query} queries have no {match}, so they are '
                  f'left out of every score (reid/num_query_skipped)', logger='current',
                  level=logging.WARNING)

    def _labels(self, query: list[dict], gallery: list[dict]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(Q,) query and (G,) gallery identities, then (Q,) and (G,) cameras, as the
        protocol compares them (:meth:`_cameras`)."""

        def field(items: list[dict], name: str) -> np.ndarray:
            return np.array([item[name] for item in items])

        query_cams, gallery_cams = self._cameras(field(query, 'camera'),
                                                 field(gallery, 'camera'))
        return field(query, 'identity'), field(gallery, 'identity'), query_cams, gallery_cams

    def _ranked(self, rows: slice, distances: np.ndarray, average_precision: np.ndarray,
                labels: tuple[np.ndarray, ...]) -> None:
        """Called with each chunk of final distances once it is scored: the (q, G)
        ``distances`` of the queries ``rows``, their (q,) average precisions in [0, 1]
        (NaN for a query without a valid match) and the :meth:`_labels` of the test. A
        subclass that draws keeps what it needs; the metric itself keeps nothing, so that no
        (Q, G) matrix is held."""

    def _distances(self, query: torch.Tensor,
                   gallery: torch.Tensor) -> Iterable[tuple[slice, np.ndarray]]:
        """The final (Q, G) distances of (Q, D) query and (G, D) gallery embeddings, as
        ``(rows, distances)`` chunks of query rows within ``memory_mb``."""
        if self.aqe:
            query = average_query_expansion(query, gallery, **self.aqe_args)
        if self.rerank:
            tell = partial(print_log, logger='current')
            return with_progress(k_reciprocal_rerank_chunks(query, gallery, self.distance,
                                                            **self.rerank_args, tell=tell),
                                 len(query), tell)
        step = max(1, self.max_memory_bytes // (4 * gallery.shape[0]))
        return ((slice(start, start + step),
                 pairwise_distance(query[start:start + step], gallery, self.distance).numpy())
                for start in range(0, query.shape[0], step))

    def _cameras(self, query_cams: np.ndarray,
                 gallery_cams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cameras the protocol compares; with ``exclude_same_camera=False``, a query
        camera that no gallery item has, so that no gallery item is removed."""
        if not self.exclude_same_camera:
            return np.zeros_like(query_cams), np.ones_like(gallery_cams)
        cameras = np.unique(np.concatenate([query_cams, gallery_cams]))
        if cameras.size == 1:
            raise _single_camera_error(cameras[0])
        return query_cams, gallery_cams


def stacked_features(items: list[dict], side: str) -> torch.Tensor:
    """The (N, D) embeddings of ``items`` (the ``side`` images), or one sentence when they
    are not all of one length or hold NaN or inf values (a diverged model, a float16
    overflow), which no distance ranks."""
    lengths = sorted({tuple(item['feature'].shape) for item in items})
    if len(lengths) > 1 or len(lengths[0]) != 1:
        raise ValueError(f'ReIDMetric got {side} embeddings of the shapes {lengths}: a re-ID '
                         f'model gives every image one embedding of one length')
    features = torch.stack([item['feature'] for item in items])
    bad = torch.nonzero(~torch.isfinite(features).all(dim=1)).flatten()
    if len(bad):
        count = f'{len(bad)} {side} embeddings' if len(bad) > 1 else f'a {side} embedding'
        raise ValueError(f'ReIDMetric got {count} holding NaN or inf values (the first: '
                         f'{side} image {int(bad[0])}), which no distance ranks: the model\'s '
                         f'output is not finite (a diverged training, a float16 overflow?)')
    return features


def query_and_gallery(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """The processed results split into query and gallery items, both needed."""
    query = [item for item in results if item['is_query']]
    gallery = [item for item in results if not item['is_query']]
    if not query or not gallery:
        raise ValueError(f'ReIDMetric got {len(query)} query and {len(gallery)} gallery '
                         f'items; evaluate on a re-ID dataset with split="test"')
    return query, gallery


def _single_camera_error(camera: int) -> ConfigError:
    """The error for data whose query and gallery images all come from ``camera`` while
    ``exclude_same_camera=True``."""
    return ConfigError(f'ReIDMetric: every query and gallery image comes from camera '
                       f'{camera}, so the protocol (no match from the query\'s own camera) '
                       f'leaves no true match; give the dataset its cameras, or set '
                       f'exclude_same_camera=False in val_evaluator and test_evaluator for '
                       f'data without them')


def _check_options(kwargs: dict[str, Any]) -> None:
    """A ConfigError for a keyword that neither ReIDMetric nor mmengine's ``BaseMetric``
    takes, naming the closest option."""
    known = constructor_arguments(ReIDMetric)
    for name in kwargs:
        if name not in known:
            raise ConfigError(f'ReIDMetric takes no option {name!r}'
                              f'{closest_choice_hint(name, known) or "."} Its options: '
                              f'{", ".join(known)}')


def _check_switches(**switches: Any) -> None:
    """Each on/off option must be a bool: a string such as 'Ture' or 'False' (a mistyped
    ``--cfg-options`` value) is truthy and would silently switch the option on."""
    for name, value in switches.items():
        if not is_flag(value):
            raise ConfigError(f'ReIDMetric: {name} takes True or False, got {value!r} '
                              f'({type(value).__name__}); set {name}=True or {name}=False')


def _checked_topk(topk: int | Sequence[int], max_rank: int) -> tuple[int, ...]:
    """``topk`` as a tuple of plain ints, or one sentence unless it is one or more integers
    (of any integer type, never a bool) from 1 to ``max_rank``."""
    ranks = (topk, ) if is_int(topk) else topk
    if not isinstance(ranks, Sequence):
        ranks = (ranks, )
    if max_rank < 1 or not ranks or not all(is_int(k) and 1 <= k <= max_rank for k in ranks):
        raise ConfigError(f'ReIDMetric: topk takes one or more ranks from 1 to max_rank '
                          f'({max_rank}), got {tuple(ranks)}')
    return tuple(int(k) for k in ranks)


def _check_rerank_numbers(k1: object, k2: object, lambda_value: object) -> None:
    """k1 and k2 integers of 1 or more (their bounds from the number of images are checked
    with the data) and lambda_value a number from 0 to 1."""
    positive_int(k1, 'ReIDMetric k1', "the size of re-ranking's k-reciprocal neighbourhoods")
    positive_int(k2, 'ReIDMetric k2', "the size of re-ranking's local query expansion")
    if not (is_number(lambda_value) and 0 <= lambda_value <= 1):
        raise ConfigError(f'ReIDMetric: lambda_value weighs the original distance against '
                          f'the Jaccard distance in re-ranking, a number from 0 to 1 (the '
                          f'paper of Zhong et al. uses 0.3), got {lambda_value!r}')


def _checked_rates(tpr_at_fpr: object) -> tuple[float, ...]:
    """``tpr_at_fpr`` as a tuple of false positive rates in (0, 1]: a sequence of numbers,
    or one number, as ``--cfg-options test_evaluator.tpr_at_fpr=1e-3`` gives it."""
    rates = (tpr_at_fpr, ) if is_number(tpr_at_fpr) else tpr_at_fpr
    if (isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence)
            or not all(is_number(rate) and 0 < rate <= 1 for rate in rates)):
        raise ConfigError(f'ReIDMetric: tpr_at_fpr takes false positive rates in (0, 1], '
                          f'one number or a list of them, got {tpr_at_fpr!r}')
    return tuple(float(rate) for rate in rates)


def _rate_name(rate: float) -> str:
    """1e-4 → '1e-4', 0.005 → '5e-3', 0.25 → '2.5e-1' (the key of ``TPR@FPR=…``)."""
    mantissa, exponent = f'{rate:e}'.split('e')
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _one_integer(sample: dict[str, Any], name: str) -> int:
    """``sample[name]`` as an int: an int, or a one-element tensor or array of an integer
    dtype. Anything else (a float, even 3.0; several values) is an error naming the value
    and the image, where ``int()`` would silently truncate 3.7 to 3."""
    value = sample[name]
    array = (value.detach().cpu().numpy() if isinstance(value, torch.Tensor)
             else np.asarray(value))
    if array.size == 1 and array.dtype.kind in 'iu':
        return int(array.reshape(()))
    where = sample.get('img_path', f"the sample with sample_idx={sample.get('sample_idx')}")
    raise ValueError(f'ReIDMetric: {name} of {where} is {value!r}; identities and cameras '
                     f'must be single integers (an int or an integer tensor), and a float '
                     f'one is refused rather than truncated')
