"""The value checks that rga_mm's components and entry points share, so that a size, a
count or a switch is accepted and refused alike everywhere:

* :func:`is_int`: an integer of any type (``int``, ``numpy.int64``, ...), never a bool;
* :func:`is_positive_int`, :func:`positive_int`: such an integer of 1 or more, as a test or
  as the value (a plain int) or one sentence;
* :func:`is_flag`, :func:`flag`: a switch given as a bool (``numpy.bool_`` too), as a test or
  as the value (a plain bool) or one sentence: a string such as ``'False'`` would count
  as true.
* :func:`is_file_given_as_folder`: a path to a file written with a trailing separator
  (``imgs/base.png/``), which the system says does not exist, though the file does;
* :func:`constructor_arguments`: the keyword arguments a class's constructors take, to
  name the closest to a mistyped config key.

A caller whose sentence says more than the shared one keeps it around the test.
"""
import inspect
import numbers
import os

import numpy as np

from rga_mm.errors import ConfigError


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer of any type (``int``, ``numpy.int64``, ...) other
    than a bool: ``True`` is an int to Python but never a size or a ratio here."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number of any type (``int``, ``float``, ``numpy.float32``,
    ...) other than a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an integer (:func:`is_int`) of 1 or more."""
    return is_int(value) and value >= 1


def positive_int(value: object, name: str, meaning: str) -> int:
    """``value`` as a plain int, or one sentence unless it is an integer >= 1.

    Args:
        value: the argument as given.
        name: how the error names it, e.g. ``'RGA in_channels'``.
        meaning: what it is, in a few words, e.g. ``'the channels of the attended map'``.

    Raises:
        ConfigError: ``value`` is not an integer of 1 or more.
    """
    if not is_positive_int(value):
        raise ConfigError(f'{name} must be a positive int ({meaning}), got {value!r}')
    return int(value)


def is_flag(value: object) -> bool:
    """Whether ``value`` is a bool, Python's or numpy's."""
    return isinstance(value, (bool, np.bool_))


def flag(value: object, name: str) -> bool:
    """``value`` as a plain bool, or one sentence unless it is a bool (``numpy.bool_``
    too): a string or a number would silently count as true or false.

    Raises:
        ConfigError: ``value`` is not a bool.
    """
    if not is_flag(value):
        raise ConfigError(f'{name} must be True or False, got {value!r}')
    return bool(value)


def is_file_given_as_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends in a path separator but names a file without it
    (``imgs/base.png/``): the system then says that it does not exist (ENOTDIR)."""
    text = os.fspath(path)
    separators = os.sep + (os.altsep or '')
    return text.endswith(tuple(separators)) and os.path.isfile(text.rstrip(separators))


def constructor_arguments(cls: type) -> list[str]:
    """The named arguments of ``cls``'s constructors, following ``**kwargs`` up the class
    hierarchy to the first constructor without it (mmengine's ``BaseDataset`` for the
    datasets)."""
    names = []
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in parameters if p.name != 'self'
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return list(dict.fromkeys(names))
