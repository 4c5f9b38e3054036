"""The files that travel with rga_mm beside its code (``configs/``, ``model-index.yml``).

In an installed package they lie in ``rga_mm/.mim/`` (setup.py copies them there, where
``mim`` looks for them); in a checkout, at the repository root.
"""
from collections.abc import Sequence
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: the folders that hold them, in the order searched: installed package, checkout
MIM_ROOTS = (PACKAGE_DIR / '.mim', PACKAGE_DIR.parent)
ROOT_NAMES = ('installed package', 'checkout')


def find_package_file(relative: str, roots: Sequence[Path], what: str, hint: str) -> Path:
    """``root / relative`` for the first of ``roots`` where that is a file.

    Args:
        relative: the file's path under a root, e.g. ``'model-index.yml'``.
        roots: the folders to search, as :data:`MIM_ROOTS` (or folders below them).
        what: the start of the error, e.g. ``'rga_mm has no model index'``.
        hint: the end of the error: what to do.

    Raises:
        FileNotFoundError: one sentence naming every path tried.
    """
    for root in roots:
        if (Path(root) / relative).is_file():
            return Path(root) / relative
    tried = ' nor '.join(f'{Path(root) / relative} ({name})'
                         for root, name in zip(roots, ROOT_NAMES))
    raise FileNotFoundError(f'{what}: neither {tried} exists; {hint}')
