"""Output file names for pictures drawn one per input image."""
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

# the longest stem kept whole: common file systems take names of at most 255 bytes
# (NAME_MAX), and a picture's name adds a suffix (_2), .png and, while it is written,
# .partial to its stem
MAX_STEM_BYTES = 200
DIGEST_CHARS = 8


def bounded_stem(stem: str) -> str:
    """``stem`` itself if it has at most :data:`MAX_STEM_BYTES` bytes on disk, else its
    start (cut at a character boundary) joined by ``~`` to the first characters of a SHA-1
    of the whole stem, which keeps two long stems that start alike apart."""
    encoded = os.fsencode(stem)
    if len(encoded) <= MAX_STEM_BYTES:
        return stem
    end = MAX_STEM_BYTES - DIGEST_CHARS - 1
    while end and encoded[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: not a start
        end -= 1
    digest = hashlib.sha1(encoded).hexdigest()[:DIGEST_CHARS]
    return f'{os.fsdecode(encoded[:end])}~{digest}'


def unique_stems(paths: Sequence[str | Path]) -> list[str]:
    """One file stem per input path, none repeated: the path's own stem where it is the
    first to have it, else that stem with the smallest suffix ``_2``, ``_3``, ... that no
    input has as its own stem and no earlier input was given. Two folders may both hold
    ``0001.jpg``, and one of them ``0001_2.jpg`` as well: each gets a picture of its own.
    A stem too long for a file name is shortened first (:func:`bounded_stem`).
    """
    own = [bounded_stem(Path(path).stem) for path in paths]
    taken, names = set(own), []
    first = set()
    for stem in own:
        if stem not in first:
            first.add(stem)
            names.append(stem)
            continue
        suffix = 2
        while f'{stem}_{suffix}' in taken:
            suffix += 1
        taken.add(f'{stem}_{suffix}')
        names.append(f'{stem}_{suffix}')
    return names
