"""The ``out_indices`` argument of the CIFAR backbones, read as mmpretrain's backbones read it."""
from collections.abc import Sequence


def checked_out_indices(out_indices: Sequence[int], num_stages: int,
                        backbone: str) -> tuple[int, ...]:
    """``out_indices`` with negative indices counted from the last stage (-1: the last).

    Raises:
        ValueError: no index, or one outside -num_stages..num_stages - 1; a forward would
            otherwise return fewer outputs than asked for, silently.
    """
    indices = tuple(out_indices)
    valid = range(-num_stages, num_stages)
    if not indices or any(index not in valid for index in indices):
        raise ValueError(f'{backbone}: out_indices takes one or more of the stages 0..'
                         f'{num_stages - 1} (or -{num_stages}..-1 from the last), got {indices}')
    return tuple(index % num_stages for index in indices)
