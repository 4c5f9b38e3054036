"""The re-ID metric of the mmengine evaluator: gathers embeddings, ranks the gallery."""
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from rga_mm.registry import METRICS
from ..functional import k_reciprocal_rerank, pairwise_distance, rank_metrics
from ..functional.distance import DISTANCES

REQUIRED_FIELDS = ('pred_feature', 'gt_label', 'camera_id', 'is_query')


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """CMC, mAP and mINP of query-to-gallery retrieval (protocol: ``functional/rank.py``).

    ``process`` keeps, per data sample, the embedding ``pred_feature`` (1-D tensor, set by
    the model), the identity ``gt_label``, and the metainfo ``camera_id`` and ``is_query``
    (set by the datasets' ``split='test'``). After mmengine has collected the results of all
    ranks (dropping the sampler's padding), ``compute_metrics`` computes the query × gallery
    distances, optionally re-ranks them, and calls :func:`rank_metrics`. Results are in
    percent: ``mAP``, ``mINP`` and ``rank{k}`` for k in ``topk`` (``reid/mAP`` in logs),
    plus three counts: ``num_query``, the queries evaluated (those with a valid match, over
    which the scores are averaged); ``num_query_skipped``, the queries without one; and
    ``num_gallery``, the gallery items received. ``num_query + num_query_skipped`` is the
    number of query items received, each counted once however many ranks evaluated.

    ``gt_label`` and ``camera_id`` must be integers (an int, or a one-element integer
    tensor or array): a float one, even 3.0, is an error naming the value and the image,
    never truncated.

    Args:
        distance: ``'cosine'`` (the paper's test setting) or ``'euclidean'``.
        rerank: apply k-reciprocal re-ranking (Zhong et al., CVPR 2017) with ``k1``, ``k2``
            and ``lambda_value``; needs a dense (Q + G)² matrix (Market-1501: 1.5 GB).
        topk: CMC ranks to report.
        max_rank: length of the CMC curve computed.
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``.
    """

    default_prefix = 'reid'

    def __init__(self,
                 distance: str = 'cosine',
                 rerank: bool = False,
                 k1: int = 20,
                 k2: int = 6,
                 lambda_value: float = 0.3,
                 topk: Sequence[int] = (1, 5, 10),
                 max_rank: int = 50,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if max(topk) > max_rank:
            raise ValueError(f'topk {tuple(topk)} goes beyond max_rank {max_rank}')
        if distance not in DISTANCES:
            raise ValueError(f'distance must be one of {DISTANCES}, got {distance!r}')
        self.distance = distance
        self.rerank = rerank
        self.rerank_args = dict(k1=k1, k2=k2, lambda_value=lambda_value)
        self.topk = tuple(topk)
        self.max_rank = max_rank

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            missing = [name for name in REQUIRED_FIELDS if name not in sample]
            if missing:
                raise KeyError(f'ReIDMetric needs {missing} in every data sample: the '
                               f'embedding pred_feature comes from the model, the rest '
                               f'from a re-ID dataset with split="test"')
            self.results.append(dict(
                feature=sample['pred_feature'].detach().to('cpu', torch.float32),
                identity=_one_integer(sample, 'gt_label'),
                camera=_one_integer(sample, 'camera_id'),
                is_query=bool(sample['is_query'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        query = [item for item in results if item['is_query']]
        gallery = [item for item in results if not item['is_query']]
        if not query or not gallery:
            raise ValueError(f'ReIDMetric got {len(query)} query and {len(gallery)} gallery '
                             f'items; evaluate on a re-ID dataset with split="test"')
        query_features = torch.stack([item['feature'] for item in query])
        gallery_features = torch.stack([item['feature'] for item in gallery])
        distmat = pairwise_distance(query_features, gallery_features, self.distance)
        if self.rerank:
            distmat = k_reciprocal_rerank(
                distmat.numpy(),
                pairwise_distance(query_features, query_features, self.distance).numpy(),
                pairwise_distance(gallery_features, gallery_features, self.distance).numpy(),
                **self.rerank_args)

        def field(items, name):
            return np.array([item[name] for item in items])

        scores = rank_metrics(np.asarray(distmat), field(query, 'identity'),
                              field(gallery, 'identity'), field(query, 'camera'),
                              field(gallery, 'camera'), max_rank=self.max_rank)
        metrics = dict(mAP=100 * scores['mAP'], mINP=100 * scores['mINP'])
        metrics.update({f'rank{k}': 100 * scores['cmc'][k - 1] for k in self.topk})
        # under distributed evaluation every query and gallery image must be counted
        # exactly once: num_query + num_query_skipped == len(query)
        metrics.update(num_query=scores['num_valid_queries'],
                       num_query_skipped=scores['num_skipped_queries'],
                       num_gallery=len(gallery))
        return metrics


def _one_integer(sample: Dict[str, Any], name: str) -> int:
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
