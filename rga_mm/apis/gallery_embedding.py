"""The embeddings of a gallery search's images (tools/search.py): the query images' in one
call, the gallery's through its cache (:mod:`rga_mm.apis.gallery_cache`).

The gallery is embedded in two steps, so that a caller can check between them that the cache
can be written before any image is embedded: :func:`cached_gallery` reads what the cache
holds, complete when no file changed; :func:`embed_gallery` embeds the rest, writing the cache
when it is due and when the embedding stops.
"""
from dataclasses import dataclass

import torch

from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.errors import DatasetError
from .gallery_cache import CacheWriter, FileStamp, GalleryCache, GalleryRows, model_key
from .inferencer import ReIDInferencer

# errors met while images are embedded that stop a search with one sentence: an unreadable
# image, every image unreadable, a file deleted since it was listed, a model built for another
# input size
STOPPING_ERRORS = (UnreadableImageError, ValueError, FileNotFoundError)


class EmbeddingStopped(Exception):
    """One of the :data:`STOPPING_ERRORS`, ``error``, stopped the gallery's embedding after
    the rows embedded were written to the cache."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class EmbeddedGallery:
    """A gallery's embeddings: ``features`` (G, D) of the G ``paths`` kept, with how many
    rows came from the cache, the paths embedded and those skipped as unreadable."""

    paths: list[str]
    features: torch.Tensor
    from_cache: int
    embedded: list[str]
    skipped: list[str]


def embed_images(inferencer: ReIDInferencer, paths: list[str], *, batch_size: int,
                 flip: bool, on_unreadable: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Embed the N image files ``paths``.

    Returns:
        path → (D,) embedding of each readable file, and the paths skipped as unreadable
        (``on_unreadable='skip'``).

    Raises:
        One of the :data:`STOPPING_ERRORS`.
    """
    if not paths:
        return {}, []
    samples = inferencer(paths, return_datasamples=True, batch_size=batch_size, flip=flip,
                         on_unreadable=on_unreadable)
    embedded = {paths[sample.sample_idx]: sample.pred_feature for sample in samples}
    return embedded, [path for path in paths if path not in embedded]


def cached_gallery(inferencer: ReIDInferencer, paths: list[str],
                   stamps: list[FileStamp], writer: CacheWriter,
                   flip: bool) -> EmbeddedGallery | GalleryRows:
    """The gallery as ``writer``'s cache holds it for this model and ``flip``.

    Args:
        paths: the G gallery files.
        stamps: their :func:`rga_mm.apis.gallery_cache.file_stamp`.

    Returns:
        The whole gallery when the cache holds every file as it is now (``writer.rows`` is
        then G; nothing is written), else the rows to fill with :func:`embed_gallery`, those
        of unchanged files filled from the cache, and ``writer.others`` set to the rows of
        other galleries that its writes keep.

    Raises:
        GalleryCacheError: the cache file is no gallery cache.
    """
    writer.key = model_key(inferencer, flip) if writer.cache else ''  # no cache, no hash
    cached = GalleryCache(writer.cache, writer.key)
    if all(map(cached.holds, paths, stamps)):
        writer.rows = len(paths)
        return EmbeddedGallery(paths, cached_features(cached, paths), len(paths), [], [])
    writer.others = cached.other_rows(paths)
    return GalleryRows(paths, stamps, cached)


def cached_features(cached: GalleryCache, paths: list[str]) -> torch.Tensor:
    """The (G, D) embeddings of the G ``paths``, all held by ``cached``: its own tensor,
    not copied, where it holds exactly these paths in this order."""
    if cached.paths == paths:
        return cached.features
    return cached.features[[cached.rows[path][1] for path in paths]]


def embed_gallery(inferencer: ReIDInferencer, gallery: GalleryRows, writer: CacheWriter, *,
                  batch_size: int, flip: bool, on_unreadable: str) -> EmbeddedGallery:
    """Embed the rows of ``gallery`` not filled from the cache, then write the cache.

    Raises:
        EmbeddingStopped: one of the :data:`STOPPING_ERRORS` stopped the embedding.
        DatasetError: no gallery image could be read.
    """
    writer.rows = gallery.from_cache
    embed_rows(inferencer, gallery, writer, batch_size=batch_size, flip=flip,
               on_unreadable=on_unreadable)
    kept, kept_stamps, features = gallery.filled()
    if not kept:
        raise DatasetError(f'none of the {len(gallery.paths)} gallery images could be read')
    writer.write(kept, kept_stamps, features)
    return EmbeddedGallery(kept, features, gallery.from_cache, gallery.embedded,
                           gallery.skipped)


def embed_rows(inferencer: ReIDInferencer, gallery: GalleryRows, writer: CacheWriter, *,
               batch_size: int, flip: bool, on_unreadable: str) -> None:
    """Embed the gallery rows not filled yet, a batch at a time, writing the cache when due
    and, before the error goes on, when the embedding is stopped (SIGINT and SIGTERM too).

    Raises:
        EmbeddingStopped: one of the :data:`STOPPING_ERRORS` stopped the embedding.
    """
    todo = gallery.todo()
    if not todo:
        return
    try:
        for samples, skipped in inferencer.embed_batches(todo, batch_size, flip=flip,
                                                         on_unreadable=on_unreadable):
            gallery.add(todo, samples, skipped)
            if writer.due():
                writer.write(*gallery.filled())
    except BaseException as error:  # SIGINT and SIGTERM too: keep what is done
        keep_filled(gallery, writer)
        if not isinstance(error, STOPPING_ERRORS):
            raise
        raise EmbeddingStopped(error) from error


def keep_filled(gallery: GalleryRows, writer: CacheWriter) -> None:
    """Write the rows filled so far as the cache, if some were embedded since the last
    write."""
    if gallery.embedded and int(gallery.done.sum()) != writer.rows:
        writer.write(*gallery.filled())
