"""Models by name: the configs listed in rga_mm's model index (``model-index.yml``).

The index is the one ``mim search rga_mm`` reads: in an installed package
``rga_mm/.mim/model-index.yml`` (with ``configs/`` beside it), in a checkout
``model-index.yml`` at the repository root. Each model is named after its config file, e.g.
``rga-sc_r50-ls1_1xb64-600e_market1501-256x128``. It is read with the ``modelindex``
package, as mmpretrain's ``ModelHub`` does; mmpretrain's ``get_model`` itself looks only at
mmpretrain's own index and loads checkpoints without rga_mm's checks, hence these few lines.
"""
import difflib
import fnmatch
from functools import lru_cache
from pathlib import Path

import torch
from modelindex.load_model_index import load
from torch import nn

from rga_mm.package_files import MIM_ROOTS, find_package_file
from .inference import init_model

INDEX_LOCATIONS = MIM_ROOTS  # installed, checkout


def model_index_path() -> Path:
    """The ``model-index.yml`` of this installation (module docstring)."""
    return find_package_file('model-index.yml', INDEX_LOCATIONS, 'rga_mm has no model index',
                             'reinstall rga_mm or give a config file instead of a name')


@lru_cache(maxsize=None)
def _configs(index_path: Path) -> dict[str, Path]:
    """Model name → config file, for every model of the index (relative paths are relative
    to the index's folder, as in OpenMMLab's metafiles)."""
    index = load(str(index_path))
    return {model.name: index_path.parent / model.config for model in index.models}


def list_models(pattern: str | None = None) -> list[str]:
    """Names in the model index, sorted; ``pattern`` is a shell-style wildcard
    (``'rga-sc*market1501*'``)."""
    names = sorted(_configs(model_index_path()))
    return fnmatch.filter(names, pattern) if pattern else names


def model_config(name: str) -> Path:
    """The config file of the model called ``name`` in the index.

    Raises:
        TypeError: a name that is not a string.
        ValueError: an unknown name, naming the closest names of the index.
    """
    if not isinstance(name, str):
        raise TypeError(f'the model name must be a string, got {type(name).__name__}: '
                        f'rga_mm.apis.list_models() lists the names of the index')
    index_path = model_index_path()
    configs = _configs(index_path)
    if name in configs:
        return configs[name]
    close = difflib.get_close_matches(name, configs, n=5, cutoff=0.3)
    hint = (f'the closest are {", ".join(close)}' if close
            else 'list them with rga_mm.apis.list_models()')
    raise ValueError(f'{name!r} is not a model of the index {index_path} ({len(configs)} '
                     f'models named after their config files): {hint}')


def get_model(name: str,
              checkpoint: str | None = None,
              device: str | torch.device = 'cpu',
              cfg_options: dict | None = None,
              strict: bool = True) -> nn.Module:
    """Build the model called ``name`` in the model index, in eval mode on ``device``.

    No checkpoints are published (the index lists none), so weights come from
    ``checkpoint``; without one the model keeps its initial weights. The rest is
    :func:`rga_mm.apis.init_model` (strict checkpoint checks, ``model.cfg``).

    Example:
        >>> from rga_mm.apis import get_model
        >>> model = get_model('rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32',
        ...                   'work_dirs/demo/epoch_80.pth')
    """
    return init_model(model_config(name), checkpoint, str(device), cfg_options, strict)
