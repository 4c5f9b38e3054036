"""Search a gallery of person images for query images with a trained re-ID model.

    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query IMG|DIR [IMG|DIR ...] \
        [--topk 10] [--out DIR] [--rerank] [--flip] [--batch-size 32] [--cache FILE] \
        [--skip-unreadable] [--device cpu] [--partial-load] [--cfg-options k=v ...]

Images are embedded by :class:`rga_mm.apis.ReIDInferencer` (the config's test pipeline and
the model's test embedding); ``--flip`` averages each image's embedding with its mirror
image's. Each query's k nearest gallery images are found exactly, a block of the gallery at
a time (``rga_mm.evaluation.functional.gallery_topk``), with the distance of the config's
``test_evaluator`` (``ReIDMetric``'s default: cosine); ``--rerank`` applies k-reciprocal
re-ranking first, from the embeddings and a chunk of queries at a time (docs/benchmarks.md,
"Re-ranking at scale"). When every file name is a Market-1501 name (``0001_c1s1_000151_01.jpg``) the
evaluation protocol applies (docs/reid.md, "Evaluation protocol"): junk images (``-1``) and
images of the query's identity from the query's camera are left out, and results are framed
green (same identity as the query) or red. A ``--topk`` larger than the gallery lists the
whole gallery, with a notice.

With ``--out DIR``: one ranked-list PNG per query (``DIR/<query name>.png``,
:class:`rga_mm.visualization.RankedListVisualizer`) and ``DIR/results.json``, per query the
ranked gallery paths and their distances. Without it the lists are printed.

Gallery embeddings are cached in ``--cache`` (default ``DIR/gallery_cache.pth`` with
``--out``, none without), keyed by each file's path, size and modification time and by a
hash of the model config, the test pipeline, the loaded weights and ``--flip``: a file
added or changed since is embedded, the others are read from the cache; a cache made by
another model is noticed and the whole gallery embedded again; a file that is no cache is
refused, never overwritten. An unreadable image stops the
tool, named, unless ``--skip-unreadable`` leaves it out (it is tried again on the next run).
"""
import argparse
import hashlib
import json
import os
import os.path as osp
from collections.abc import Sequence
from pathlib import Path

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.utils import track_iter_progress

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import ReIDInferencer
from rga_mm.datasets import Market1501
from rga_mm.datasets.folder_listing import image_files
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.engine.launch import PARTIAL_LOAD_HELP
from rga_mm.evaluation.functional import distance_topk, gallery_topk, k_reciprocal_rerank_chunks
from rga_mm.evaluation.functional.rank import JUNK_ID
from rga_mm.visualization import RankedListVisualizer, unique_stems

CACHE_FORMAT = 'rga_mm gallery embeddings 1'


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--gallery', required=True, help='folder of gallery images')
    parser.add_argument('--query', required=True, nargs='+',
                        help='query image files or folders of them')
    parser.add_argument('--topk', type=int, default=10, help='results per query')
    parser.add_argument('--out', help='folder for the ranked-list PNGs and results.json')
    parser.add_argument('--rerank', action='store_true',
                        help='k-reciprocal re-ranking (k1=20, k2=6, λ=0.3), a chunk of '
                        'queries at a time')
    parser.add_argument('--flip', action='store_true',
                        help='embed the mean of each image\'s and its mirror image\'s '
                        'embedding (default: as the config\'s model.test_cfg.flip)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per forward pass')
    parser.add_argument('--cache', help='gallery embedding cache file (default: '
                        'gallery_cache.pth in --out; none without --out)')
    parser.add_argument('--skip-unreadable', action='store_true',
                        help='leave out images that cannot be read instead of stopping')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--partial-load', action='store_true', help=PARTIAL_LOAD_HELP)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    args = parser.parse_args(argv)
    for name in ('topk', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1, got '
                         f'{getattr(args, name)}')
    if args.cache and osp.isdir(args.cache):
        parser.error(f'--cache {args.cache} is a folder; give a file name, e.g. '
                     f'{osp.join(args.cache, "gallery_cache.pth")}')
    return args


def model_key(inferencer: ReIDInferencer, flip: bool) -> str:
    """Hash of what decides the embeddings: model config, test pipeline, the weights as
    loaded (so a checkpoint given by URL keys the cache too) and flip."""
    digest = hashlib.sha256()
    described = dict(model=inferencer.cfg.model.to_dict(),
                     pipeline=inferencer.cfg.test_dataloader.dataset.pipeline, flip=flip)
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    for name, value in sorted(inferencer.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def file_stamp(path: str) -> tuple[int, int]:
    """(size in bytes, modification time in ns): a changed file changes its stamp."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


class GalleryCache:
    """The embeddings of a cache file made with the model ``key``: ``rows`` maps a path to
    (its file stamp, its row of ``features``); empty when there is no usable cache."""

    def __init__(self, cache: str | None, key: str) -> None:
        self.rows: dict[str, tuple[tuple[int, int], int]] = {}
        self.paths: list[str] = []
        self.features: torch.Tensor | None = None
        saved = self._load(cache, key)
        if saved is not None:
            self.paths, self.features = list(saved['paths']), saved['features']
            stamps = zip(saved['sizes'].tolist(), saved['mtimes'].tolist())
            self.rows = {path: (tuple(stamp), row)
                         for row, (path, stamp) in enumerate(zip(self.paths, stamps))}

    @staticmethod
    def _load(cache: str | None, key: str) -> dict | None:
        if cache is None or not osp.isfile(cache):
            return None
        try:
            saved = torch.load(cache, map_location='cpu', weights_only=True)
            if not isinstance(saved, dict) or saved.get('format') != CACHE_FORMAT:
                raise ValueError('it holds something else')
        except Exception as error:  # another file: never overwritten (caches are renamed
            # into place whole, so no cache of ours is ever found truncated)
            reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ''
            raise SystemExit(
                f'--cache {cache} exists and is no gallery cache of tools/search.py '
                f'({type(error).__name__}: {reason}); search leaves it as it is: give '
                f'another --cache file') from None
        if saved['model_key'] != key:
            print(f'cache {cache} was made by another model (config, checkpoint or --flip '
                  f'differ); embedding the whole gallery again')
            return None
        return saved

    def holds(self, path: str, stamp: tuple[int, int]) -> bool:
        """Whether the cache has ``path``'s embedding for the file as it is now."""
        return path in self.rows and self.rows[path][0] == stamp


def write_cache(cache: str, key: str, paths: list[str], stamps: list[tuple[int, int]],
                features: torch.Tensor) -> None:
    """Write the cache next to its final name, then rename it into place."""
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    sizes, mtimes = zip(*stamps)
    partial = f'{cache}.partial'
    torch.save(dict(format=CACHE_FORMAT, model_key=key, paths=paths,
                    sizes=torch.tensor(sizes), mtimes=torch.tensor(mtimes),
                    features=features.contiguous()), partial)
    os.replace(partial, cache)


def embed(inferencer: ReIDInferencer, paths: list[str], args: argparse.Namespace,
          flip: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Path → embedding of the readable ``paths``, and the paths skipped as unreadable."""
    if not paths:
        return {}, []
    try:
        samples = inferencer(paths, return_datasamples=True, batch_size=args.batch_size,
                             flip=flip,
                             on_unreadable='skip' if args.skip_unreadable else 'stop')
    except UnreadableImageError as error:
        raise SystemExit(f'cannot read image {error.path}: {error.reason}; remove or replace '
                         f'it, or pass --skip-unreadable to leave such images out') from None
    except ValueError as error:  # every image unreadable
        raise SystemExit(str(error)) from None
    embedded = {paths[sample.sample_idx]: sample.pred_feature for sample in samples}
    return embedded, [path for path in paths if path not in embedded]


def embed_gallery(inferencer: ReIDInferencer, paths: list[str], args: argparse.Namespace,
                  flip: bool, cache: str | None) -> tuple[list[str], torch.Tensor, dict]:
    """(gallery paths kept, (G, D) embeddings, statistics), reusing the cached rows of the
    files that have not changed and updating the cache."""
    key = model_key(inferencer, flip)
    cached = GalleryCache(cache, key)
    stamps = {path: file_stamp(path) for path in paths}
    todo = [path for path in paths if not cached.holds(path, stamps[path])]
    embedded, skipped = embed(inferencer, todo, args, flip)
    kept = [path for path in paths if path not in skipped]
    if not kept:
        raise SystemExit(f'none of the {len(paths)} gallery images could be read')
    if not embedded and kept == cached.paths:
        features = cached.features  # unchanged: no copy of a large gallery
    else:
        dim = next(iter(embedded.values())).shape[0] if embedded else cached.features.shape[1]
        features = torch.empty((len(kept), dim))
        new_rows = [row for row, path in enumerate(kept) if path in embedded]
        old_rows = [row for row, path in enumerate(kept) if path not in embedded]
        if new_rows:
            features[new_rows] = torch.stack([embedded[kept[row]] for row in new_rows])
        if old_rows:
            features[old_rows] = cached.features[[cached.rows[kept[row]][1]
                                                  for row in old_rows]]
    stats = dict(num_gallery=len(kept), embedded=len(embedded),
                 from_cache=len(kept) - len(embedded), skipped=skipped,
                 embedded_files=[path for path in kept if path in embedded])
    if cache is not None and features is not cached.features:
        write_cache(cache, key, kept, [stamps[path] for path in kept], features)
    where = f' from the cache {cache}' if cache else ''
    print(f'gallery {args.gallery}: {len(kept)} images, {len(embedded)} embedded, '
          f'{stats["from_cache"]} read{where}'
          + (f', {len(skipped)} unreadable left out' if skipped else ''))
    return kept, features, stats


def market_labels(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(identities, cameras) read from Market-1501 file names, or None unless every name is
    one."""
    ids, cams = [], []
    for path in paths:
        match = Market1501.file_pattern.fullmatch(osp.basename(path))
        if match is None:
            return None
        ids.append(int(match['identity']))
        cams.append(int(match['camera']))
    return np.array(ids), np.array(cams)


def evaluation_distance(inferencer: ReIDInferencer) -> str:
    """The distance the config evaluates with: its ReIDMetric's, cosine by default."""
    evaluator = inferencer.cfg.get('test_evaluator')
    if isinstance(evaluator, dict) and str(evaluator.get('type', '')).endswith('ReIDMetric'):
        return evaluator.get('distance', 'cosine')
    return 'cosine'


def rank(query: torch.Tensor, gallery: torch.Tensor, k: int, metric: str, rerank: bool,
         labels: tuple[np.ndarray, ...] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, k) distances and gallery indices of each query's k nearest (-1: none left)."""
    if not rerank:
        return gallery_topk(query, gallery, k, metric, *(labels or ()))
    distances, indices = [], []
    for rows, reranked in k_reciprocal_rerank_chunks(query, gallery, metric):
        chunk_labels = () if labels is None else (labels[0][rows], labels[1], labels[2][rows],
                                                   labels[3])
        chunk_distances, chunk_indices = distance_topk(reranked, k, *chunk_labels)
        distances.append(chunk_distances)
        indices.append(chunk_indices)
    return torch.cat(distances), torch.cat(indices)


def draw(out: Path, queries: list[str], results: list[dict],
         thumbnail_size: tuple[int, int] = (128, 64)) -> list[str]:
    """One ranked-list PNG per query in ``out``; their paths."""
    visualizer = RankedListVisualizer(name='search', thumbnail_size=thumbnail_size)
    pngs = []
    for query, result, name in zip(track_iter_progress(queries), results,
                                   unique_stems(queries)):
        picture = visualizer.draw_ranked_list(
            mmcv.imread(query, channel_order='rgb'),
            [mmcv.imread(path, channel_order='rgb') for path in result['gallery']],
            result['distances'], result.get('matches'))
        target = out / f'{name}.png'
        mmcv.imwrite(picture[..., ::-1], str(target))
        pngs.append(str(target))
    return pngs


def list_queries(items: Sequence[str]) -> list[str]:
    paths = []
    for item in items:
        if osp.isdir(item):
            paths.extend(image_files(item))
        elif osp.isfile(item):
            paths.append(osp.abspath(item))
        else:
            raise SystemExit(f'query {item} does not exist')
    return [osp.abspath(path) for path in paths]


def apply_protocol(query_paths: list[str], gallery_paths: list[str], gallery: torch.Tensor
                   ) -> tuple[list[str], torch.Tensor, tuple[np.ndarray, ...] | None]:
    """With Market-1501 names everywhere, the evaluation's gallery (junk dropped, as the
    datasets drop it: re-ranking would see it) and the labels (query ids, gallery ids,
    query cameras, gallery cameras) that remove same-camera matches; else all unchanged."""
    query_labels, gallery_labels = market_labels(query_paths), market_labels(gallery_paths)
    if query_labels is None or gallery_labels is None:
        return gallery_paths, gallery, None
    real = np.flatnonzero(gallery_labels[0] != JUNK_ID)
    print(f'Market-1501 file names: as in the evaluation, junk images '
          f'({len(gallery_paths) - len(real)}) and images of the query\'s identity from its '
          f'camera are left out')
    if not real.size:
        raise SystemExit('every gallery image is junk (identity -1): nothing to search')
    labels = (query_labels[0], gallery_labels[0][real], query_labels[1],
              gallery_labels[1][real])
    return [gallery_paths[i] for i in real], gallery[real], labels


def ranked_lists(query_paths: list[str], gallery_paths: list[str], distances: torch.Tensor,
                 indices: torch.Tensor, labels: tuple[np.ndarray, ...] | None) -> list[dict]:
    """Per query: its path, the ranked gallery paths, their distances and (with labels)
    whether each is the query's identity."""
    results = []
    for row, query_path in enumerate(query_paths):
        found = indices[row] >= 0
        ranked = indices[row][found].tolist()
        result = dict(query=query_path, gallery=[gallery_paths[i] for i in ranked],
                      distances=distances[row][found].tolist())
        if labels is not None:
            result['matches'] = [bool(labels[1][i] == labels[0][row]) for i in ranked]
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the search; returns its statistics (gallery size, images embedded and read from
    the cache, skipped files, the results file)."""
    args = parse_args(argv)
    if not osp.isdir(args.gallery):
        raise SystemExit(f'gallery {args.gallery} is not a folder of images')
    try:
        gallery_paths = [osp.abspath(path) for path in image_files(args.gallery)]
        query_paths = list_queries(args.query)
    except ValueError as error:  # a folder without images
        raise SystemExit(str(error)) from None
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SystemExit(f'--out {out} cannot be created ({error.strerror})') from None
    cache = args.cache or (str(out / 'gallery_cache.pth') if out is not None else None)
    try:
        inferencer = ReIDInferencer(args.config, args.checkpoint, args.device,
                                    cfg_options=args.cfg_options, strict=not args.partial_load)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    flip = inferencer.uses_flip(True if args.flip else None)

    gallery_paths, gallery, stats = embed_gallery(inferencer, gallery_paths, args, flip, cache)
    embedded, skipped = embed(inferencer, query_paths, args, flip)
    query_paths = [path for path in query_paths if path not in skipped]
    if not query_paths:
        raise SystemExit('none of the query images could be read')
    query = torch.stack([embedded[path] for path in query_paths])
    gallery_paths, gallery, labels = apply_protocol(query_paths, gallery_paths, gallery)
    k = args.topk
    if k > len(gallery_paths):
        print(f'--topk {k} is more than the {len(gallery_paths)} gallery images: listing '
              f'all of them')
        k = len(gallery_paths)
    metric = evaluation_distance(inferencer)
    try:
        ranking = rank(query, gallery, k, metric, args.rerank, labels)
    except ValueError as error:  # too few images for re-ranking's neighbourhoods
        raise SystemExit(f'--rerank: {error}; search without --rerank') from None
    results = ranked_lists(query_paths, gallery_paths, *ranking, labels)

    summary = dict(stats, num_queries=len(query_paths), skipped_queries=skipped, topk=k,
                   distance=metric, results=None, pngs=[])
    if out is None:
        for result in results:
            print(result['query'])
            for position, (path, distance) in enumerate(
                    zip(result['gallery'], result['distances']), 1):
                print(f'  #{position} {distance:.4f} {path}')
        return summary
    pngs = draw(out, query_paths, results)
    for result, png in zip(results, pngs):
        result['png'] = png
    report = dict(config=args.config, checkpoint=args.checkpoint,
                  gallery=osp.abspath(args.gallery), distance=metric, rerank=args.rerank,
                  flip=flip, topk=k, evaluation_protocol=labels is not None, queries=results)
    results_file = out / 'results.json'
    results_file.write_text(json.dumps(report, indent=1))
    print(f'{len(pngs)} ranked lists and {results_file} written to {out}')
    summary.update(results=str(results_file), pngs=pngs)
    return summary


if __name__ == '__main__':
    main()
