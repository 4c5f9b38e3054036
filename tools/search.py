"""Search a gallery of person images for query images with a trained re-ID model.

    python tools/search.py CONFIG CHECKPOINT --gallery IMG|DIR|@FILE [IMG|DIR ...] \
        --query IMG|DIR|@FILE [IMG|DIR ...] \
        [--topk 10] [--out DIR [--draw-topk 20]] [--protocol auto|off] [--rerank] \
        [--flip|--no-flip] \
        [--batch-size 32] \
        [--cache FILE] \
        [--skip-unreadable] [--device cpu] [--partial-load] [--cfg-options k=v ...]

``@FILE`` stands for the paths FILE lists, one a line (argparse's ``fromfile_prefix_chars``:
a gallery listed from an annotation file's rows, longer than a command line holds). Images
are embedded by :class:`rga_mm.apis.ReIDInferencer` (the config's test pipeline and
the model's test embedding); ``--flip`` averages each image's embedding with its mirror
image's and ``--no-flip`` does not; with neither, the search does as the config's
``model.test_cfg.flip`` says. Each query's k nearest gallery images are found exactly, a
block of the gallery at a time (``rga_mm.evaluation.functional.gallery_topk``), with the
distance of the config's ``test_evaluator`` (``ReIDMetric``'s default: cosine); ``--rerank``
applies k-reciprocal re-ranking first, from the embeddings and a chunk of queries at a time
(docs/benchmarks.md, "Re-ranking at scale"). When every file name is a Market-1501 name
(``0001_c1s1_000151_01.jpg``, with any image suffix) the evaluation protocol applies
(docs/reid.md, "Evaluation protocol"): junk images (``-1``) and images of the query's
identity from the query's camera are left out, and results are framed green (same identity
as the query) or red; where a query or gallery file name is no such name, one line per side
says that the protocol is off and names the first such file. ``--protocol off`` turns it off
whatever the names (data of one's own under Market-1501 names, whose same-camera matches are
true results): every gallery image is listed, junk and same-camera ones too, without frames,
and one line says so; ``--protocol auto``, the default, is as above. With the
protocol or without, a gallery item that is the query's own file under any name (the same
file, as ``os.path.samefile`` sees it: the query itself, a hard link or a symbolic link) is
left out of that query's list. Distances below 0 by rounding (an identical image's cosine
distance) are given as 0. A ``--topk`` larger than the gallery lists the whole gallery, with a
notice; without ``--topk`` each query lists :data:`DEFAULT_TOPK` results, or the whole of a
smaller gallery, without one. A query left with no result (every gallery image left out for
it) is printed with a line saying why.

Output: stdout holds lines only, the notices and the results (the ranked lists, or with
``--out`` the line naming what was written); the progress bars of the embedding and the
drawing, redrawn after carriage returns, go to stderr with the warnings and the sentence
that stops the search, so that ``search.py ... > results.txt`` holds no progress bar. A
file name that is no UTF-8 (``caf\\xe9.jpg`` in Latin-1, which Python gives as a surrogate
escape) is printed with the escape written out, ``caf\\udce9.jpg``, where stdout's encoding
cannot take it, as the sentences on stderr give it; results.json holds it as that JSON
escape, which Python's ``json`` reads back as the path.

With ``--out DIR``: ``DIR/results.json``, per query the ranked gallery paths, their
distances and, with the protocol, whether each is the query's identity, ``protocol`` (the
``--protocol`` given), ``evaluation_protocol`` (whether the protocol applied), and the query and
gallery images left out as unreadable (every path in it absolute), written first, then one
ranked-list PNG per query (``DIR/<query name>.png``,
:class:`rga_mm.visualization.RankedListVisualizer`) of its first ``--draw-topk`` results
(default :data:`DEFAULT_DRAWN_RESULTS`, at most :data:`MAX_DRAWN_RESULTS`; a longer list is
listed whole in results.json, with a notice; ``--draw-topk 0`` draws none: a picture of 100
results takes about half a second to draw on a CPU, its embedding a few milliseconds).
Each is written to ``NAME.partial`` beside it and renamed into place
(:mod:`rga_mm.apis.output_files`): a write that fails (a full disk, a file-size limit) stops
the search with one sentence naming the file and the reason, and leaves no partial file. The
ranked-list PNGs an earlier search wrote in ``DIR`` (those its results.json lists: regular
files directly in ``DIR``, none of them a query or gallery file) are removed first, so that
the folder holds the PNGs of this search only. The folder is created once the model is
loaded. Without ``--out`` the lists are printed. An
``--out`` that is the gallery folder or a query folder is refused before any work: the next
search would take its PNGs for images to search; so is an ``--out`` that is the folder of a
query or gallery file given by name (``--gallery DIR/* --out DIR``: the next ``DIR/*`` would
give the PNGs), a ``--cache`` file named with an image suffix or that is a file the search
writes in ``--out`` (``--cache DIR/results.json``, which results.json would replace),
and an ``--out`` where a PNG or results.json would overwrite a query or gallery file (the
folder of a query ``q.png``).

The queries are embedded before the gallery, and a distance the evaluation does not know
(``--cfg-options test_evaluator.distance=...``) is refused before either: a bad query stops
the search before a long gallery embedding.

``--gallery`` and ``--query`` each take image files and folders. The images of a folder are
those directly in it; subfolders are not read, and a line names how many of them hold images
and the first; another line, how many symbolic links in it lead nowhere (to an unmounted
drive, a removed file) and the first. A folder of one folder per person (the own-data layout
of docs/reid.md) is given as its person folders: ``--gallery data/my_reid/gallery/*``, the
fix a whole such folder is refused with, its path quoted for the shell; a file given by name
whose name ends in no image suffix (a README.txt or Thumbs.db such a glob gives) is skipped,
as its folder's listing skips it, and one line per side names those skipped (a side given
only such files stops the search). A file given under several paths (a folder and a link to
it, a hard link, the same path twice: the same file as ``os.path.samefile`` sees it) is
searched, embedded and cached once, under the first path given, and one line per side says
how many paths were left out and names the first; an item that exists but is no regular file
or folder (``/dev/null``, a FIFO) is refused, named, and a file written with a trailing '/'
(``base.png/``) is told to drop it. A ``--rerank`` search of fewer query and gallery images
than re-ranking's k1 needs stops with re-ranking's sentence once the folders are listed,
before anything is embedded; the gallery's junk images, which the evaluation protocol will
leave out, are not counted (their names say which they are).

Gallery embeddings are cached in ``--cache`` (default ``DIR/gallery_cache.pth`` with
``--out``, none without), keyed by each file's path, size, modification and status-change
times and inode (:class:`~rga_mm.apis.gallery_cache.FileStamp`: a file replaced by one of the
same size whose modification time was restored is embedded again) and by a
hash of the model config and test pipeline (``--cfg-options`` merged), the loaded weights
and ``--flip``: a file added or changed since is embedded, the others are read from the
cache; a cache made by another model is noticed and the whole gallery embedded again. One
cache serves every gallery searched with one model: a write keeps the other galleries' rows,
less those of files removed or changed since. A file that is no cache is refused, never
overwritten, and one that cannot be written stops the search before the gallery is embedded;
a write that fails later (a full disk, a file-size limit) is told in one line, and the
search goes on without the cache, whose file stays as it was. The cache is written whole to
a temporary file beside it and renamed into place: every 5 minutes while the gallery is
embedded (less often where writing a large cache would take more than a tenth of the time)
and when the search is stopped (SIGINT, SIGTERM, SIGHUP, an unreadable image): the next run
embeds only the rest. A stopped search says in one line how many gallery embeddings the cache
keeps and exits with status 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP: the terminal closed
or the ssh connection dropped). An unreadable image stops the tool,
named, unless ``--skip-unreadable`` leaves it out (it is tried again on the next run).
"""
import argparse
import io
import json
import os
import os.path as osp
import shlex
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.utils import ProgressBar

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import ReIDInferencer
from rga_mm.apis.gallery_cache import (
    SAVE_INTERVAL_S,
    CacheWriter,
    GalleryCacheError,
    GalleryRows,
    file_stamp,
)
from rga_mm.apis.gallery_embedding import (
    STOPPING_ERRORS,
    EmbeddedGallery,
    EmbeddingStopped,
    cached_gallery,
    embed_gallery,
    embed_images,
)
from rga_mm.apis.inferencer import merged_config
from rga_mm.apis.output_files import write_bytes_whole, write_error_fix, write_error_reason
from rga_mm.apis.search_protocol import (
    ALL_JUNK,
    PROTOCOL_CHOICES,
    apply_protocol,
    junk_count,
    leave_out_own_files,
    own_files,
)
from rga_mm.checks import is_file_given_as_folder
from rga_mm.datasets.folder_listing import (
    IMAGE_SUFFIXES,
    every_entry,
    file_id,
    holds_image,
    image_subfolders,
    listed_images,
)
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.deployment.arguments import int_between, positive_int_arg
from rga_mm.engine.hooks.atomic_checkpoint_hook import PARTIAL_SUFFIX
from rga_mm.engine.launch import (
    COMMAND_LINE_OPTION,
    PARTIAL_LOAD_HELP,
    CfgOptionsAction,
    check_out_not_beside_named_files,
    check_out_not_input_folder,
    check_output_file,
    check_output_folder,
    check_spares_inputs,
)
from rga_mm.errors import DatasetError, first_listed
from rga_mm.evaluation.functional import (
    check_rerank_options,
    distance_topk,
    gallery_topk,
    k_reciprocal_rerank_chunks,
    with_progress,
)
from rga_mm.evaluation.functional.distance import check_distance
from rga_mm.evaluation.functional.rerank import (
    DEFAULT_K1,
    DEFAULT_K2,
    DEFAULT_LAMBDA,
    DEFAULT_MAX_MEMORY_BYTES,
)
from rga_mm.visualization import RankedListVisualizer, unique_stems

# results drawn in a ranked-list PNG (one row of 74-pixel panels; libpng refuses pictures
# wider than 1,000,000 pixels, and a whole large gallery would take minutes to draw)
MAX_DRAWN_RESULTS = 100
DEFAULT_DRAWN_RESULTS = 20
# results per query without --topk (the whole gallery where it holds fewer images)
DEFAULT_TOPK = 10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        # the two files first: after --gallery or --query (several values each) they would
        # be taken for more images
        usage='%(prog)s CONFIG CHECKPOINT --gallery IMG|DIR [...] --query IMG|DIR [...] '
              '[options]',
        # @FILE: the arguments listed in FILE, one a line (an annotation file's gallery rows,
        # more paths than a command line holds)
        fromfile_prefix_chars='@')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--gallery', required=True, nargs='+',
                        help='gallery image files or folders of them (the images directly '
                        'in a folder; one folder per person: give each, e.g. gallery/*), or '
                        '@FILE: those listed in FILE, one a line')
    parser.add_argument('--query', required=True, nargs='+',
                        help='query image files or folders of them; a query that is also a '
                        'gallery file (the same file) is left out of its own ranked list')
    parser.add_argument('--topk', type=positive_int_arg,
                        help=f'results per query (default: {DEFAULT_TOPK}, or the whole gallery '
                        f'where it holds fewer images)')
    parser.add_argument('--out', help='folder for the ranked-list PNGs and results.json')
    parser.add_argument('--draw-topk',
                        type=int_between(0, MAX_DRAWN_RESULTS, reason='results.json lists all '
                                         'of --topk'),
                        help=f'results drawn in each ranked-list PNG of --out, the first ones '
                        f'(default: {DEFAULT_DRAWN_RESULTS}, at most {MAX_DRAWN_RESULTS}; 0: no '
                        f'PNG, results.json only)')
    parser.add_argument('--protocol', choices=PROTOCOL_CHOICES, default='auto',
                        help='auto: with Market-1501 file names everywhere, leave out junk '
                        'images and the query\'s identity from its camera, as the evaluation '
                        'does, and frame the results green or red; off: list every gallery '
                        'image but the query\'s own file, unframed (default: auto)')
    parser.add_argument('--rerank', action='store_true',
                        help=f'k-reciprocal re-ranking (k1={DEFAULT_K1}, k2={DEFAULT_K2}, '
                        f'λ={DEFAULT_LAMBDA}), a chunk of queries at a time')
    parser.add_argument('--flip', action=argparse.BooleanOptionalAction,
                        help='embed the mean of each image\'s and its mirror image\'s '
                        'embedding, or (--no-flip) not (default: as the config\'s '
                        'model.test_cfg.flip)')
    parser.add_argument('--batch-size', type=positive_int_arg, default=32,
                        help='images per forward pass (default: 32)')
    parser.add_argument('--cache', help='gallery embedding cache file (default: '
                        'gallery_cache.pth in --out; none without --out), written every '
                        f'{SAVE_INTERVAL_S // 60} minutes while the gallery is embedded and '
                        'when the search is stopped, so that a rerun embeds only the rest')
    parser.add_argument('--skip-unreadable', action='store_true',
                        help='leave out images that cannot be read instead of stopping')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--partial-load', action='store_true', help=PARTIAL_LOAD_HELP)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries')
    args = parser.parse_args(argv)
    if args.draw_topk is not None and not args.out:
        parser.error('--draw-topk chooses what the PNGs of --out show; give --out DIR with '
                     'it')
    if args.draw_topk is None:
        args.draw_topk = DEFAULT_DRAWN_RESULTS
    if args.cache and osp.isdir(args.cache):
        parser.error(f'--cache {args.cache} is a folder; give a file name, e.g. '
                     f'{shlex.quote(osp.join(args.cache, "gallery_cache.pth"))}')
    if args.cache and Path(args.cache).suffix.lower() in IMAGE_SUFFIXES:
        parser.error(f'--cache {args.cache} has an image file suffix: a search of its folder '
                     f'would take it for an image; name it e.g. gallery_cache.pth')
    return args


def stop_sentence(error: Exception, kept: str = '') -> str:
    """The sentence that stops the search on one of the :data:`STOPPING_ERRORS`: for an
    unreadable image its path, why and what to do, followed by ``kept``; else the error's
    own sentence."""
    if not isinstance(error, UnreadableImageError):
        return str(error)
    return (f'cannot read image {error.path}: {error.reason}; remove or replace it, or pass '
            f'--skip-unreadable to leave such images out{kept}')


def on_unreadable(args: argparse.Namespace) -> str:
    """What the inferencer does with an unreadable image: skip it or stop."""
    return 'skip' if args.skip_unreadable else 'stop'


def embed_queries(inferencer: ReIDInferencer, paths: list[str], args: argparse.Namespace,
                  flip: bool) -> tuple[list[str], torch.Tensor, list[str]]:
    """(query paths kept, their (Q, D) embeddings, the paths skipped as unreadable)."""
    print(f'embedding {len(paths)} query image{"s" if len(paths) > 1 else ""}')
    try:
        embedded, skipped = embed_images(inferencer, paths, batch_size=args.batch_size,
                                         flip=flip, on_unreadable=on_unreadable(args))
    except STOPPING_ERRORS as error:
        raise SystemExit(stop_sentence(error)) from None
    kept = [path for path in paths if path not in skipped]
    if not kept:
        raise SystemExit('none of the query images could be read')
    return kept, torch.stack([embedded[path] for path in kept]), skipped


def embed_search_gallery(inferencer: ReIDInferencer, paths: list[str],
                         files: dict[str, os.stat_result], args: argparse.Namespace,
                         flip: bool, writer: CacheWriter
                         ) -> tuple[list[str], torch.Tensor, dict]:
    """(gallery paths kept, (G, D) embeddings, statistics), reusing the cached rows of the
    files that have not changed (``files``: their ``os.stat``); the cache is updated while
    the gallery is embedded and when the embedding stops (module docstring)."""
    stamps = [file_stamp(files[path]) for path in paths]
    try:
        gallery = cached_gallery(inferencer, paths, stamps, writer, flip)
    except GalleryCacheError as error:
        raise SystemExit(str(error)) from None
    if isinstance(gallery, GalleryRows):
        # a cache that cannot be written stops the search now, not after the embedding it keeps
        check_output_file(writer.cache, '--cache', 'gallery_cache.pth')
        gallery = embed_changed(inferencer, gallery, args, flip, writer)
    return report_gallery(args, writer, gallery)


def embed_changed(inferencer: ReIDInferencer, gallery: GalleryRows, args: argparse.Namespace,
                  flip: bool, writer: CacheWriter) -> EmbeddedGallery:
    """The gallery with the rows the cache does not hold embedded; a stopping error stops
    the search, saying how many gallery embeddings the cache keeps."""
    todo, total = len(gallery.todo()), len(gallery.paths)
    print(f'embedding {todo} of the {total} gallery images (the others read from the cache)'
          if todo < total else f'embedding the {total} gallery images')
    try:
        return embed_gallery(inferencer, gallery, writer, batch_size=args.batch_size,
                             flip=flip, on_unreadable=on_unreadable(args))
    except EmbeddingStopped as stop:
        raise SystemExit(stop_sentence(stop.error, writer.kept_note())) from None
    except DatasetError as error:  # no gallery image could be read
        raise SystemExit(str(error)) from None


def report_gallery(args: argparse.Namespace, writer: CacheWriter, gallery: EmbeddedGallery
                   ) -> tuple[list[str], torch.Tensor, dict]:
    """Print the gallery's counts; (kept paths, embeddings, statistics)."""
    where = f' from the cache {writer.cache}' if writer.cache else ''
    print(f'gallery {gallery_name(args.gallery)}: {len(gallery.paths)} images, '
          f'{len(gallery.embedded)} embedded, {gallery.from_cache} read{where}'
          + (f', {len(gallery.skipped)} unreadable left out' if gallery.skipped else ''))
    new = set(gallery.embedded)
    stats = dict(num_gallery=len(gallery.paths), embedded=len(gallery.embedded),
                 from_cache=gallery.from_cache, skipped=gallery.skipped,
                 embedded_files=[path for path in gallery.paths if path in new])
    return gallery.paths, gallery.features, stats


def gallery_name(items: Sequence[str]) -> str:
    """The ``--gallery`` items for a line of output: the one given, or the first and how
    many more."""
    return items[0] if len(items) == 1 else f'{items[0]} and {len(items) - 1} more'


def evaluation_distance(inferencer: ReIDInferencer) -> str:
    """The distance the config evaluates with: its ReIDMetric's, cosine by default; one the
    evaluation does not know stops the search."""
    evaluator = inferencer.cfg.get('test_evaluator')
    distance = 'cosine'
    if isinstance(evaluator, dict) and str(evaluator.get('type', '')).endswith('ReIDMetric'):
        distance = evaluator.get('distance', 'cosine')
    try:
        check_distance(distance, 'test_evaluator.distance')
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return distance


def rank(query: torch.Tensor, gallery: torch.Tensor, k: int, metric: str, rerank: bool,
         labels: tuple[np.ndarray, ...] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, k) distances and gallery indices of each query's k nearest (-1: none left)."""
    if not rerank:
        return gallery_topk(query, gallery, k, metric, *(labels or ()))
    distances, indices = [], []
    chunks = k_reciprocal_rerank_chunks(query, gallery, metric, tell=print)
    for rows, reranked in with_progress(chunks, len(query), print):
        chunk_labels = () if labels is None else (labels[0][rows], labels[1], labels[2][rows],
                                                   labels[3])
        chunk_distances, chunk_indices = distance_topk(reranked, k, *chunk_labels)
        distances.append(chunk_distances)
        indices.append(chunk_indices)
    return torch.cat(distances), torch.cat(indices)


def draw(pngs: list[str], queries: list[str], results: list[dict], num_results: int,
         thumbnail_size: tuple[int, int] = (128, 64)) -> None:
    """The ranked list of each query, its first ``num_results`` results, as the PNG file of
    the same position in ``pngs`` (:func:`write_output`), with a progress bar on stderr."""
    visualizer = RankedListVisualizer(name='search', thumbnail_size=thumbnail_size)
    shown = slice(num_results)
    drawn = 0
    progress = ProgressBar(len(pngs), file=sys.stderr)
    try:
        for query, result, png in zip(queries, results, pngs):
            matches = result.get('matches')
            picture = visualizer.draw_ranked_list(
                mmcv.imread(query, channel_order='rgb'),
                [mmcv.imread(path, channel_order='rgb') for path in result['gallery'][shown]],
                result['distances'][shown], None if matches is None else matches[shown])
            write_output(png, png_bytes(picture))
            drawn += 1
            progress.update()
    except KeyboardInterrupt as stop:
        raise DrawingStopped(stop, drawn, len(pngs)) from None
    finally:  # the bar's line ended, also before the sentence of a write that failed
        progress.file.write('\n')


def png_bytes(picture: np.ndarray) -> bytes:
    """The PNG file of an (H, W, 3) RGB picture, as ``mmcv.imwrite`` (OpenCV) writes it."""
    return cv2.imencode('.png', np.ascontiguousarray(picture[..., ::-1]))[1].tobytes()


def write_output(path: str | Path, data: bytes) -> None:
    """Write one file of ``--out`` whole (:func:`~rga_mm.apis.output_files.write_bytes_whole`);
    a write that fails stops the search with one sentence naming the file and the reason."""
    try:
        write_bytes_whole(path, data)
    except OSError as error:
        raise SystemExit(f'cannot write {path} ({write_error_reason(error)}), so the search '
                         f'results are incomplete: {write_error_fix(error, "give another --out")}'
                         f', and run the search again') from None


def not_listed(side: str, item: str) -> str:
    """The sentence for a ``side`` item that is neither a regular file nor a folder: a file
    written with a trailing separator (``base.png/``), one that does not exist, or one that
    exists as something else (a device such as /dev/null, a FIFO, a socket)."""
    if is_file_given_as_folder(item):
        return f'{side} {item} is a file, not a folder: drop the trailing {item[-1]!r}'
    if not osp.exists(item):
        return f'{side} {item} does not exist'
    return (f'{side} {item} exists but is not a regular file or a folder (a device, a FIFO '
            f'or a socket?); give image files or folders of them to --{side}')


def print_once() -> Callable[[str], None]:
    """A ``print`` that prints each line once: a folder given twice (``g1 g1/``, listed
    with its separator dropped) is named once in the notices about its subfolders and
    suffixes."""
    printed = set()

    def tell(line: str) -> None:
        if line not in printed:
            printed.add(line)
            print(line)
    return tell


# files given by name that are left out unnamed beyond this many (a glob of a large folder)
MAX_NAMED_SKIPPED = 10


def is_non_image_file(item: str) -> bool:
    """Whether ``item`` is a file whose name ends in none of the image suffixes a folder's
    listing reads (in any case)."""
    return osp.isfile(item) and Path(item).suffix.lower() not in IMAGE_SUFFIXES


def image_items(items: Sequence[str], side: str) -> list[str]:
    """``items`` less the files without an image suffix (a README.txt or Thumbs.db given by
    a shell glob such as ``DIR/*``), which the listing of their folder would leave out too,
    after one line naming them; stops with one sentence when no item is left."""
    kept, skipped = [], []
    for item in items:
        (skipped if is_non_image_file(item) else kept).append(item)
    if not skipped:
        return kept
    names = first_listed(skipped, MAX_NAMED_SKIPPED)
    suffixes = ', '.join(IMAGE_SUFFIXES)
    if not kept:
        raise SystemExit(f'{side}: none of the {len(skipped)} files given has an image suffix '
                         f'({suffixes}), so there is nothing to search ({names}); give image '
                         f'files or folders of them to --{side}')
    print(f'{side}: skipping the {len(skipped)} given file(s) whose names end in no image '
          f'suffix ({suffixes}): {names}')
    return kept


def list_side(items: Sequence[str], side: str) -> list[str]:
    """The absolute paths of the image files ``items`` names (after :func:`image_items`) and
    of the images directly in its folders, in order, after a line naming the subfolders of
    images a folder has, which are not read. Stops with :func:`not_listed`'s sentence for the
    first item that is no file or folder, and names a folder without images; one whose
    subfolders hold them (one folder per person) is told to give them instead."""
    try:
        folders_normalized = [osp.normpath(item) if osp.isdir(item) else item for item in items]
        paths = listed_images(folders_normalized, print_once(),
                              lambda item: SystemExit(not_listed(side, item)))
    except ValueError as error:  # a folder without images
        empty = next((item for item in items if osp.isdir(item) and not holds_image(item)),
                     None)
        if empty is not None and image_subfolders(empty):
            raise SystemExit(f'{side} folder {empty} holds no image directly, only '
                             f'subfolders of images (one folder per person?), which are not '
                             f'read; give them instead: --{side} '
                             f'{every_entry(empty)}') from None
        raise SystemExit(str(error)) from None
    return [osp.abspath(path) for path in paths]


def check_out_folder(out: Path, args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is the gallery folder or a query folder: its ranked-list
    PNGs would be searched as images by the next search (a subfolder is not read, so one
    inside those folders is taken)."""
    for side, folders in (('gallery', args.gallery), ('query', args.query)):
        check_out_not_input_folder(out, folders, lambda folder, side=side: (
            f'--out {args.out} is the {side} folder {folder}, where the ranked-list PNGs '
            f'would be searched as {side} images next time; choose another folder (a '
            f'subfolder of it is not read)'))


def check_out_not_beside_searched_files(out: Path, args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is the folder of a query or gallery file given by name: the
    next search of that folder's files (``DIR/*``, which gave them) would take its
    ranked-list PNGs for images to search."""
    for side, items in (('gallery', args.gallery), ('query', args.query)):
        check_out_not_beside_named_files(out, items, lambda folder, file, side=side: (
            f'--out {args.out} is the folder of the {side} file {file}, where the '
            f'ranked-list PNGs would be searched as {side} images by a search of its files '
            f'({every_entry(folder)}); choose another folder'))


def rerank_stop(error: ValueError, note: str = '') -> SystemExit:
    """The exit for a re-ranking refused by its own checks (too few images), ``note`` after
    the error's sentence."""
    return SystemExit(f'--rerank: {error}{note}; search without --rerank')


def check_rerank_size(num_images: int, junk: int = 0) -> None:
    """Stop, before anything is embedded, a ``--rerank`` search of ``num_images`` query
    and gallery images in all that re-ranking (its default k1 and k2) would refuse; the
    ``junk`` gallery images the evaluation protocol will leave out (:func:`junk_count`) are
    not among them, and the sentence says so."""
    try:
        check_rerank_options(num_images, DEFAULT_K1, DEFAULT_K2, DEFAULT_MAX_MEMORY_BYTES)
    except ValueError as error:
        note = (f'; the gallery\'s {junk} junk image(s) (identity -1) are not counted, as the '
                f'evaluation protocol leaves them out' if junk else '')
        raise rerank_stop(error, note) from None


def file_stats(paths: Sequence[str]) -> dict[str, os.stat_result]:
    """Path → ``os.stat`` result, each path stated once: its stamp for the cache and its
    identity for :func:`distinct_files` and :func:`own_files` come from it."""
    try:
        return {path: os.stat(path) for path in paths}
    except FileNotFoundError as error:  # removed since its folder was listed
        raise SystemExit(f'{error.filename} was removed as the search started; run the '
                         f'search again') from None


def distinct_files(paths: list[str], stats: dict[str, os.stat_result], side: str
                   ) -> list[str]:
    """``paths`` less those that are the same file as an earlier one (the same path given
    twice, a link, a hard link: ``os.path.samefile``'s device and inode), after one line
    saying how many were left out and naming the first; the first path of a file is kept,
    and is the one cached, embedded and listed."""
    kept: dict[tuple[int, int], str] = {}
    left_out = []
    for path in paths:
        key = file_id(stats[path])
        if key in kept:
            left_out.append((path, kept[key]))
        else:
            kept[key] = path
    if left_out:
        path, first = left_out[0]
        earlier = 'given twice' if path == first else f'the same file as {first}'
        print(f'{side}: {len(left_out)} of the {len(paths)} paths are left out as the same '
              f'file as an earlier path (the first: {path}, {earlier}); each file is '
              f'searched once')
    return list(kept.values())


def report_own_files(own: list[list[int]]) -> None:
    """Say how many queries are also gallery files (:func:`own_files`), if any are."""
    found = sum(map(bool, own))
    if found:
        print(f'{found} of the {len(own)} queries are also gallery files: each is left out of '
              f'its own ranked list')


def listed_topk(topk: int | None, num_gallery: int) -> int:
    """How many results each query lists: ``--topk`` (None where it was not given:
    :data:`DEFAULT_TOPK`), or the whole gallery where it holds fewer images, with a notice
    only for a ``--topk`` given."""
    if topk is None:
        return min(DEFAULT_TOPK, num_gallery)
    if topk <= num_gallery:
        return topk
    print(f'--topk {topk} is more than the {num_gallery} gallery images: listing all of them '
          f'(less those left out for each query)')
    return num_gallery


def ranked_lists(query_paths: list[str], gallery_paths: list[str], distances: torch.Tensor,
                 indices: torch.Tensor, labels: tuple[np.ndarray, ...] | None) -> list[dict]:
    """Per query: its path, the ranked gallery paths, their distances and (with labels)
    whether each is the query's identity."""
    results = []
    for row, query_path in enumerate(query_paths):
        found = indices[row] >= 0
        ranked = indices[row][found].tolist()
        # a distance below 0 is rounding (1 - cos of an identical image): given as 0
        result = dict(query=query_path, gallery=[gallery_paths[i] for i in ranked],
                      distances=[max(0.0, value) for value in distances[row][found].tolist()])
        if labels is not None:
            result['matches'] = [bool(labels[1][i] == labels[0][row]) for i in ranked]
        results.append(result)
    return results


# the signals that stop a search as SIGINT does (:func:`termination_as_interrupt`): SIGHUP
# where the platform has it (a closed terminal, a dropped ssh connection)
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ('SIGTERM', 'SIGHUP')
                            if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``signum``), raised where SIGINT raises KeyboardInterrupt, so that
    each keeps what is done."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


class DrawingStopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP (the interrupt ``stop``) while the ranked lists were drawn,
    ``drawn`` of ``total`` PNGs written: the gallery is embedded and results.json complete
    by then."""

    def __init__(self, stop: KeyboardInterrupt, drawn: int, total: int) -> None:
        super().__init__()
        self.stop, self.drawn, self.total = stop, drawn, total

    def stopped_line(self, signal_name: str) -> str:
        """The one line printed when the search is stopped."""
        return (f'search stopped by {signal_name} while drawing: results.json lists every '
                f'query\'s results, {self.drawn} of the {self.total} ranked-list PNGs are '
                f'drawn; run the same command again to draw them all')


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Within the block (in the main thread) each of the :data:`TERMINATING_SIGNALS` raises
    :class:`Terminated`, unless it is ignored (a search started with ``nohup`` ignores
    SIGHUP, and goes on when the terminal closes); the previous handlers are restored after
    it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_terminated)
                for signum in TERMINATING_SIGNALS
                if signal.getsignal(signum) != signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def escaped_stdout() -> Iterator[None]:
    """Within the block a character that stdout's encoding cannot take is written as its
    backslash escape instead of stopping the search with UnicodeEncodeError: a file name that
    is no UTF-8 (``caf\\xe9.jpg`` in Latin-1), which Python gives as a surrogate escape,
    prints as ``caf\\udce9.jpg``, as the sentences on stderr and results.json write it. Only a
    strict stdout is changed (a C locale's writes the name's own bytes), and it is restored
    after the block."""
    stream = sys.stdout
    if not (isinstance(stream, io.TextIOWrapper) and stream.errors == 'strict'):
        yield
        return
    stream.reconfigure(errors='backslashreplace')
    try:
        yield
    finally:
        with suppress(OSError):  # after SIGHUP the terminal may be gone
            stream.reconfigure(errors='strict')


def stopping_signal(stop: KeyboardInterrupt) -> tuple[int, str]:
    """The signal that stopped the search (``stop`` as :func:`main` catches it) and its name
    for the stopped line."""
    cause = stop.stop if isinstance(stop, DrawingStopped) else stop
    if isinstance(cause, Terminated):
        return cause.signum, signal.Signals(cause.signum).name
    return signal.SIGINT, 'SIGINT (Ctrl-C)'


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the search; returns its statistics (gallery size, images embedded and read from
    the cache, skipped files, the results file). Stopped by SIGINT, SIGTERM or SIGHUP, it
    prints how many gallery embeddings the cache keeps (stopped while drawing, how many
    ranked-list PNGs are drawn) and exits with status 128 + the signal's number: 130, 143 or
    129."""
    args = parse_args(argv)
    out = Path(osp.abspath(args.out)) if args.out else None
    writer = CacheWriter(args.cache or (str(out / 'gallery_cache.pth') if out else None))
    try:
        with termination_as_interrupt(), escaped_stdout():
            return search(args, out, writer)
    except KeyboardInterrupt as stop:
        signum, name = stopping_signal(stop)
        line = (stop.stopped_line(name) if isinstance(stop, DrawingStopped)
                else writer.stopped_line(name))
        with suppress(OSError):  # after SIGHUP the terminal may be gone
            sys.stdout.flush()  # the lines printed so far first
            print('\n' + line, file=sys.stderr)
        raise SystemExit(128 + signum) from None


class Ranking(NamedTuple):
    """The ranked lists of a search (:func:`ranked_lists`), the number of results per
    query, the distance and whether the evaluation protocol applied."""

    results: list[dict]
    topk: int
    distance: str
    protocol: bool


def search(args: argparse.Namespace, out: Path | None, writer: CacheWriter) -> dict:
    """The search of :func:`main`, its gallery cache written by ``writer``: list the images,
    embed them, rank the gallery for each query, report."""
    gallery_paths, query_paths, files = list_images(args, out)
    pngs = png_paths(out, query_paths) if out is not None else {}
    if out is not None:
        check_out_files(args, out, pngs, list(files))
    inferencer = load_inferencer(args)
    metric = evaluation_distance(inferencer)
    with made_out_folder(out, args):
        flip = inferencer.uses_flip(args.flip)
        query_paths, query, skipped = embed_queries(inferencer, query_paths, args, flip)
        gallery_paths, gallery, stats = embed_search_gallery(inferencer, gallery_paths, files,
                                                             args, flip, writer)
        ranking = rank_queries(metric, args, (query_paths, query),
                               (gallery_paths, gallery), files)
        summary = dict(stats, num_queries=len(query_paths), skipped_queries=skipped,
                       topk=ranking.topk, distance=ranking.distance, results=None, pngs=[])
        if out is not None:
            remove_earlier_pngs(out, files.values())
        return report_results(args, (out, pngs), flip, query_paths, ranking, summary)


def list_images(args: argparse.Namespace, out: Path | None
                ) -> tuple[list[str], list[str], dict[str, os.stat_result]]:
    """(gallery paths, query paths), absolute, each file once (:func:`distinct_files`), and
    the ``os.stat`` of every path listed, ``args.gallery`` and ``args.query`` left with the
    items searched (:func:`image_items`), after the checks that stop the search before any
    work: the gallery folder, ``--out``, a gallery of junk images only (known from the file
    names) and, with ``--rerank``, the number of images (less the gallery's junk,
    :func:`check_rerank_size`)."""
    if out is not None:
        check_output_folder(args.out, '--out', 'a folder for the ranked-list PNGs and '
                            'results.json')
        check_out_folder(out, args)
    # the items searched from here on, in the lines printed and results.json alike
    args.gallery, args.query = image_items(args.gallery, 'gallery'), image_items(args.query,
                                                                                  'query')
    gallery_paths = list_side(args.gallery, 'gallery')
    query_paths = list_side(args.query, 'query')
    files = file_stats([*gallery_paths, *query_paths])
    gallery_paths = distinct_files(gallery_paths, files, 'gallery')
    query_paths = distinct_files(query_paths, files, 'query')
    junk = junk_count(query_paths, gallery_paths, args.protocol)
    if junk == len(gallery_paths):
        raise SystemExit(ALL_JUNK)
    if args.rerank:
        check_rerank_size(len(gallery_paths) - junk + len(query_paths), junk)
    return gallery_paths, query_paths, files


def png_paths(out: Path, query_paths: list[str]) -> dict[str, str]:
    """Query path → the path of its ranked-list PNG in ``out``, named by the query's unique
    stem (:func:`~rga_mm.visualization.unique_stems`), for all the queries listed: a query
    skipped as unreadable does not rename the others'."""
    names = unique_stems(query_paths)
    return {path: str(out / f'{name}.png') for path, name in zip(query_paths, names)}


def results_path(out: Path) -> Path:
    """The results.json written in ``out``."""
    return out / 'results.json'


def check_out_files(args: argparse.Namespace, out: Path, pngs: dict[str, str],
                    inputs: Sequence[str]) -> None:
    """Refuse, before any work, an ``--out`` where a file the search writes (the PNGs
    ``pngs``, results.json) would overwrite a query or gallery file (``inputs``), e.g. the
    folder of a query image named ``<query>.png``; then one that is the folder of a query
    or gallery file given by name (:func:`check_out_not_beside_searched_files`), and a
    ``--cache`` that is one of the files written there (:func:`check_cache_not_written`)."""
    outputs = [*pngs.values(), str(results_path(out))]
    check_spares_inputs(outputs, inputs, option='--out')
    check_out_not_beside_searched_files(out, args)
    check_cache_not_written(args, out, outputs)


def check_cache_not_written(args: argparse.Namespace, out: Path, outputs: Sequence[str]
                            ) -> None:
    """Refuse a ``--cache`` that is one of the files the search writes in ``out``
    (``outputs``, or the ``.partial`` file each is written to first): writing it would
    replace the gallery cache, and the next search would refuse what replaced it."""
    if args.cache is None:
        return
    cache = osp.realpath(args.cache)
    for output in [*outputs, *(output + PARTIAL_SUFFIX for output in outputs)]:
        if cache == osp.realpath(output):
            raise SystemExit(
                f'--cache {args.cache} is {output}, a file the search writes in --out '
                f'{args.out}, so the gallery cache would be lost; give another --cache file, '
                f'or none for the default {out / "gallery_cache.pth"}')


@contextmanager
def made_out_folder(out: Path | None, args: argparse.Namespace) -> Iterator[None]:
    """The ``--out`` folder, if one is given, created for the block: once the model is
    loaded, so that a config, checkpoint or device that fails leaves no empty folder; and
    the folders it created removed again where the block stops with an error (a cache
    refused, no readable query) and leaves them empty."""
    if out is None:
        yield
        return
    created = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f'--out {args.out} cannot be created ({error.strerror})') from None
    try:
        yield
    except BaseException:
        for folder in created:  # the deepest first; one that holds files stays
            with suppress(OSError):
                folder.rmdir()
        raise


def load_inferencer(args: argparse.Namespace) -> ReIDInferencer:
    """The inferencer of the config and checkpoint (its progress bar on stderr); a model
    that cannot be built or loaded stops the search with the error's sentence."""
    try:
        cfg = merged_config(args.config, args.cfg_options, COMMAND_LINE_OPTION)
        return ReIDInferencer(cfg, args.checkpoint, args.device, strict=not args.partial_load)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None


def rank_queries(metric: str, args: argparse.Namespace,
                 queries: tuple[list[str], torch.Tensor],
                 gallery: tuple[list[str], torch.Tensor],
                 files: dict[str, os.stat_result]) -> Ranking:
    """Each query's ranked list of the gallery (``queries`` and ``gallery``: paths and
    embeddings) by the distance ``metric``, with the evaluation protocol where it applies and
    the query's own files left out."""
    query_paths, query = queries
    try:
        gallery_paths, features, labels = apply_protocol(query_paths, *gallery, print,
                                                         args.protocol)
    except DatasetError as error:  # every gallery image read is junk
        raise SystemExit(str(error)) from None
    own = own_files(query_paths, gallery_paths, files)
    report_own_files(own)
    k = listed_topk(args.topk, len(gallery_paths))
    # ranked further than k: each query's own files are left out afterwards
    ranked = min(k + max(map(len, own)), len(gallery_paths))
    try:
        ranking = rank(query, features, ranked, metric, args.rerank, labels)
    except ValueError as error:  # too few images left (unreadable, junk) for re-ranking
        raise rerank_stop(error) from None
    results = ranked_lists(query_paths, gallery_paths,
                           *leave_out_own_files(*ranking, own, k), labels)
    return Ranking(results, k, metric, labels is not None)


def report_results(args: argparse.Namespace, outputs: tuple[Path | None, dict[str, str]],
                   flip: bool, query_paths: list[str], ranking: Ranking, summary: dict) -> dict:
    """Without ``--out`` print the ranked lists, else draw them and write results.json in
    ``out`` (``outputs``: ``out`` and the queries' PNGs, :func:`png_paths`); ``summary``,
    with the results file and the PNGs."""
    out, pngs = outputs
    if out is None:
        print_results(ranking.results, ranking.protocol)
        return summary
    written = dict(config=absolute(args.config), checkpoint=absolute(args.checkpoint),
                   gallery=absolute_items(args.gallery), distance=ranking.distance,
                   rerank=args.rerank, flip=flip, topk=ranking.topk,
                   protocol=args.protocol, evaluation_protocol=ranking.protocol,
                   unreadable=dict(query=summary['skipped_queries'],
                                   gallery=summary['skipped']),
                   queries=ranking.results)
    summary.update(write_results(out, [pngs[path] for path in query_paths], ranking.results,
                                 written, args.draw_topk))
    return summary


def print_results(results: list[dict], protocol: bool) -> None:
    """Each query's path, then its ranked gallery paths with their distances, or a line
    saying why it has none (``protocol``: whether the evaluation protocol applied)."""
    for result in results:
        print(result['query'])
        if not result['gallery']:
            print(f'  {no_results_line(protocol)}')
        for position, (path, distance) in enumerate(
                zip(result['gallery'], result['distances']), 1):
            print(f'  #{position} {distance:.4f} {path}')


def no_results_line(protocol: bool) -> str:
    """The line printed for a query whose ranked list is empty: every gallery image was left
    out for it, its own file and, with the evaluation ``protocol``, its identity's images from
    its camera."""
    if protocol:
        return ('no results (every gallery image is the query\'s own file or an image of its '
                'identity from its camera, which the evaluation protocol leaves out; '
                '--protocol off keeps them)')
    return ('no results (the only gallery image is the query\'s own file, which is left out '
            'of its list)')


def write_results(out: Path, pngs: list[str], results: list[dict], report: dict,
                  num_drawn: int) -> dict:
    """Write results.json in ``out``, then draw the ranked lists, each query's first
    ``num_drawn`` results as the PNG of the same position in ``pngs`` (no PNG for
    ``num_drawn`` 0); {results, pngs drawn}."""
    pngs = pngs if num_drawn else []
    for result, png in zip(results, pngs):
        result['png'] = png
    results_file = results_path(out)
    write_output(results_file, json.dumps(report, indent=1).encode())
    if not pngs:
        lists = 'ranked list' if len(results) == 1 else 'ranked lists'
        print(f'{len(results)} {lists} written to {results_file} (no PNG: --draw-topk 0)')
        return dict(results=str(results_file), pngs=pngs)
    if report['topk'] > num_drawn:
        print(f'the ranked-list PNGs show the first {num_drawn} results of each query '
              f'(--draw-topk); {results_file} lists all {report["topk"]}')
    print(f'drawing {len(pngs)} ranked list{"s" if len(pngs) > 1 else ""}')
    draw(pngs, [result['query'] for result in results], results, num_drawn)
    print(f'{len(pngs)} ranked lists and {results_file} written to {out}')
    return dict(results=str(results_file), pngs=pngs)


def earlier_pngs(out: Path) -> list[Path]:
    """The ranked-list PNGs that the results.json of an earlier search in ``out`` lists and
    that lie directly in ``out`` (named by their path there); none where there is no
    results.json or one this tool did not write."""
    try:
        listed = [entry['png'] for entry in json.loads(results_path(out).read_text())['queries']
                  if 'png' in entry]
    except (OSError, ValueError, KeyError, TypeError):  # none, or not ours
        return []
    found = []
    for png in listed:
        if not (isinstance(png, str) and png.endswith('.png')):
            continue
        with suppress(OSError):  # a folder gone or moved: not this one
            if osp.samefile(osp.dirname(png), out):
                found.append(out / osp.basename(png))
    return found


def remove_earlier_pngs(out: Path, inputs: Iterable[os.stat_result]) -> None:
    """Remove the ranked-list PNGs of an earlier search in ``out`` (:func:`earlier_pngs`),
    so that it holds the PNGs of this search only: each a regular file (a link or a folder
    under such a name was not written by this tool), and none of the query and gallery files
    (their ``os.stat``, ``inputs``). One line says how many remain where some cannot be
    removed."""
    kept = {file_id(input_stat) for input_stat in inputs}
    remaining = []
    for png in dict.fromkeys(earlier_pngs(out)):
        try:
            png_stat = os.lstat(png)
            if stat.S_ISREG(png_stat.st_mode) and file_id(png_stat) not in kept:
                os.remove(png)
        except FileNotFoundError:
            continue
        except OSError as error:
            remaining.append((png, error))
    if remaining:
        png, error = remaining[0]
        print(f'{len(remaining)} ranked-list PNG(s) of an earlier search remain in {out}, '
              f'which are no part of these results (the first: {png}, {error.strerror}); '
              f'remove them by hand')


def absolute_items(items: Sequence[str]) -> list[str]:
    """The ``--gallery`` items for results.json, absolute, in the order given, each once
    (``g1`` and ``g1/`` are one)."""
    return list(dict.fromkeys(osp.abspath(item) for item in items))


def absolute(path: str) -> str:
    """``path`` made absolute where it is a local file, else as given (a URL, the name of a
    model of the model index)."""
    return osp.abspath(path) if osp.exists(path) else path


if __name__ == '__main__':
    main()
