"""The errors whose message is the whole story: one sentence naming what is wrong and the
fix. The tools print them alone, without a traceback through mmengine; both are
``ValueError``\\ s, so code that catches those keeps working. :func:`first_listed` shortens
the lists such a message names; :func:`first_line` quotes another error in one,
:func:`type_name` names a value's type, :func:`working_folder_note` where a relative path
starts, :func:`closest_choice` (:func:`closest_choice_hint`) the accepted value closest to a
mistyped one, and
:func:`caused_by` looks through an error's chain."""
import difflib
import os
from collections.abc import Iterator, Sequence
from typing import Any


class DatasetError(ValueError):
    """A malformed dataset: a bad file name or annotation row, an empty split, a duplicate
    path, a query identity without a gallery image. The message names the file (and line)
    and the fix."""


class ConfigError(ValueError):
    """A component configured with a value it cannot work with, or built for data of
    another shape than it receives (a feature map of another size, more identities than
    its classifier has): the message names the setting to change."""


class MapSizeError(ConfigError):
    """A module built for one feature-map size (its weights fit that size) that received a
    map of another size."""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then the error it was raised from or while handling, and so on (each
    once: a chain that loops back ends there)."""
    seen = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def first_listed(items: Sequence[object], limit: int) -> str:
    """The first ``limit`` of ``items`` for a message, comma-separated, and how many more:
    ``'a, b and 3 more'``."""
    listed = ', '.join(str(item) for item in items[:limit])
    if len(items) > limit:
        listed += f' and {len(items) - limit} more'
    return listed


def first_line(error: BaseException, *, named: bool = False) -> str:
    """The first line of ``error``'s message (its type's name when it has none); with
    ``named``, ``'Type: line'`` (``'Type: '`` when it has none)."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else ''
    if named:
        return f'{type(error).__name__}: {line}'
    return line or type(error).__name__


def type_name(value: object) -> str:
    """The name of ``value``'s type as a message (or Python's traceback) gives it:
    ``'list'`` for a builtin, ``'numpy.ndarray'`` (module and name) otherwise."""
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == 'builtins' else (
        f'{kind.__module__}.{kind.__qualname__}')


def working_folder_note(path: str) -> str:
    """``' (relative to <working folder>)'`` for a relative ``path``, so that a message
    naming a missing file says where it was looked for; ``''`` for an absolute one."""
    return '' if os.path.isabs(os.path.expanduser(path)) else f' (relative to {os.getcwd()})'


def caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error`` or an error in its chain (:func:`error_chain`) is a ``kind``."""
    return any(isinstance(cause, kind) for cause in error_chain(error))


def closest_choice(value: Any, choices: Sequence[str]) -> str | None:
    """The choice closest to ``value`` (compared without case) when one is close, else
    None."""
    lowered = {choice.lower(): choice for choice in choices}
    close = (difflib.get_close_matches(value.lower(), list(lowered), n=1)
             if isinstance(value, str) else [])
    return lowered[close[0]] if close else None


def closest_choice_hint(value: Any, choices: Sequence[str]) -> str:
    """``"; did you mean 'CHOICE'?"`` for the :func:`closest_choice` to ``value``, else
    ``''``."""
    close = closest_choice(value, choices)
    return f'; did you mean {close!r}?' if close else ''
