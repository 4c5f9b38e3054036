"""Output file names for pictures drawn one per input image."""
from collections.abc import Sequence
from pathlib import Path


def unique_stems(paths: Sequence[str | Path]) -> list[str]:
    """One file stem per input path, none repeated: the path's own stem where it is the
    first to have it, else that stem with the smallest suffix ``_2``, ``_3``, ... that no
    input has as its own stem and no earlier input was given. Two folders may both hold
    ``0001.jpg``, and one of them ``0001_2.jpg`` as well: each gets a picture of its own.
    """
    own = [Path(path).stem for path in paths]
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
