"""Which gallery items a query's ranked list may hold in a gallery search (tools/search.py).

* the Market-1501 evaluation protocol, where every file name is a Market-1501 name, with any
  image suffix, unless it is turned off (:func:`apply_protocol`, ``--protocol off``: data of
  one's own under such names, whose same-camera matches are true results): junk images are
  dropped from the gallery and the labels that
  :func:`rga_mm.evaluation.functional.gallery_topk` takes leave out the images of the query's
  identity from the query's camera;
* the query's own file (:func:`own_files`, :func:`leave_out_own_files`): a gallery item that is
  the query's file under any name, the same file as ``os.path.samefile`` sees it.
"""
import os
import os.path as osp
from collections.abc import Callable, Sequence

import numpy as np
import torch

from rga_mm.datasets import Market1501
from rga_mm.datasets.folder_listing import IMAGE_SUFFIXES, file_id
from rga_mm.errors import DatasetError
from rga_mm.evaluation.functional.rank import JUNK_ID

# the choices of tools/search.py's --protocol: 'auto' applies the evaluation protocol where
# every file name is a Market-1501 name, 'off' never does
PROTOCOL_CHOICES = ('auto', 'off')


def market_labels(paths: Sequence[str]
                  ) -> tuple[tuple[np.ndarray, np.ndarray] | None, list[str]]:
    """The labels of N Market-1501 file names and the paths that are no such name.

    Returns:
        ((N,) identities, (N,) cameras), or None unless every file name is a Market-1501
        name; and the paths whose names are not, in order.
    """
    ids, cams, others = [], [], []
    for path in paths:
        # the dataset's names end in .jpg; a search takes them with any image suffix
        stem, suffix = osp.splitext(osp.basename(path))
        match = (Market1501.file_pattern.fullmatch(f'{stem}.jpg')
                 if suffix.lower() in IMAGE_SUFFIXES else None)
        if match is None:
            others.append(path)
        elif not others:
            ids.append(int(match['identity']))
            cams.append(int(match['camera']))
    return (None if others else (np.array(ids), np.array(cams))), others


ALL_JUNK = 'every gallery image is junk (identity -1): nothing to search'


def junk_count(query_paths: Sequence[str], gallery_paths: Sequence[str],
               protocol: str = 'auto') -> int:
    """How many of the gallery files :func:`apply_protocol` will drop as junk, known from the
    file names before anything is embedded (for a check of the images a search keeps).

    Args:
        query_paths: the query files.
        gallery_paths: the gallery files.
        protocol: one of :data:`PROTOCOL_CHOICES`.

    Returns:
        The number of gallery files named with identity -1 where the protocol applies (every
        file name a Market-1501 name, ``protocol`` ``'auto'``), else 0.
    """
    if protocol == 'off':
        return 0
    query_labels, _ = market_labels(query_paths)
    gallery_labels, _ = market_labels(gallery_paths)
    if query_labels is None or gallery_labels is None:
        return 0
    return int(np.count_nonzero(gallery_labels[0] == JUNK_ID))


def protocol_off_line(side: str, others: list[str], total: int) -> str:
    """The line saying that ``others`` (of ``total`` ``side`` files) turn the protocol off."""
    return (f'evaluation protocol off: {len(others)} of the {total} {side} file names are no '
            f'Market-1501 name like 0001_c1s1_000151_01.jpg (any image suffix; the first: '
            f'{others[0]}), so junk '
            f'images are kept, images of the query\'s identity from its camera are not left '
            f'out and the ranked lists get no green or red frames')


def apply_protocol(query_paths: list[str], gallery_paths: list[str], gallery: torch.Tensor,
                   tell: Callable[[str], None], protocol: str = 'auto'
                   ) -> tuple[list[str], torch.Tensor, tuple[np.ndarray, ...] | None]:
    """The gallery a search ranks and the labels of the evaluation protocol.

    With Market-1501 names everywhere, the evaluation's gallery (junk dropped, as the
    datasets drop it: re-ranking would see it) and the labels that remove same-camera
    matches, after ``tell`` says so; else all unchanged, after a line per side naming the
    first file whose name is no Market-1501 name. With ``protocol`` ``'off'`` all unchanged
    whatever the names, after a line saying so: no identity is read from a name.

    Args:
        query_paths: the Q query files.
        gallery_paths: the G gallery files, the rows of ``gallery``.
        gallery: (G, D) gallery embeddings.
        tell: prints a line.
        protocol: one of :data:`PROTOCOL_CHOICES`.

    Returns:
        The G' gallery paths kept, their (G', D) embeddings and the labels ((Q,) query ids,
        (G',) gallery ids, (Q,) query cameras, (G',) gallery cameras), or None without the
        protocol.

    Raises:
        DatasetError: every gallery image is junk.
    """
    if protocol == 'off':
        tell('evaluation protocol off (--protocol off): junk images are kept, images of the '
             'query\'s identity from its camera are not left out and the ranked lists get no '
             'green or red frames')
        return gallery_paths, gallery, None
    query_labels, query_others = market_labels(query_paths)
    gallery_labels, gallery_others = market_labels(gallery_paths)
    if query_labels is None or gallery_labels is None:
        for side, others, paths in (('query', query_others, query_paths),
                                    ('gallery', gallery_others, gallery_paths)):
            if others:
                tell(protocol_off_line(side, others, len(paths)))
        return gallery_paths, gallery, None
    real = np.flatnonzero(gallery_labels[0] != JUNK_ID)
    junk = len(gallery_paths) - len(real)
    tell(f'Market-1501 file names: as in the evaluation, the gallery\'s {junk} junk image(s) '
         f'(identity -1) and the images of the query\'s identity from its camera are left out')
    if not real.size:
        raise DatasetError(ALL_JUNK)
    labels = (query_labels[0], gallery_labels[0][real], query_labels[1],
              gallery_labels[1][real])
    return [gallery_paths[i] for i in real], gallery[real], labels


def own_files(query_paths: list[str], gallery_paths: list[str],
              stats: dict[str, os.stat_result]) -> list[list[int]]:
    """Per query, the indices of the gallery items that are its own file under any name.

    Two paths are one file when they have the same device and inode (as
    ``os.path.samefile`` compares), so the query itself, a hard link or a symbolic link of
    it; a copy is another file.

    Args:
        query_paths: the Q query files.
        gallery_paths: the G gallery files.
        stats: path → ``os.stat`` result, for every query and gallery path.

    Returns:
        Q lists of gallery indices (most of them empty).
    """
    indices: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(gallery_paths):
        indices.setdefault(file_id(stats[path]), []).append(index)
    return [indices.get(file_id(stats[path]), []) for path in query_paths]


def leave_out_own_files(distances: torch.Tensor, indices: torch.Tensor,
                        own: list[list[int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's ranked list with the items ``own`` names for its row left out.

    Args:
        distances: (Q, k') distances of each query's k' nearest gallery items, k' >= k
            ranked further to make up for the items left out; changed in place.
        indices: (Q, k') their gallery indices (-1: none); changed in place.
        own: per query, the gallery indices to leave out (:func:`own_files`).
        k: the length of the lists returned.

    Returns:
        (Q, k) distances and gallery indices; a row left with fewer than k ends in ``inf`` /
        ``-1``.
    """
    for row, left_out in enumerate(own):
        if not left_out:
            continue
        kept = ~torch.isin(indices[row], torch.tensor(left_out))
        count = int(kept.sum())
        distances[row, :count] = distances[row][kept]
        indices[row, :count] = indices[row][kept]
        distances[row, count:] = float('inf')
        indices[row, count:] = -1
    return distances[:, :k], indices[:, :k]
