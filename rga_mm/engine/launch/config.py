"""Loading a config file, with one clear sentence when it needs the segmentation extra, and
merging ``--cfg-options`` into it without losing a mistyped key.

rga_mm's core (the RGA family, re-ID, CIFAR, the tools) runs on mmcv-lite. Segmentation
configs are mmsegmentation configs, and mmsegmentation imports mmcv's compiled ops, so they
need ``pip install 'rga_mm[seg]'``. Without it mmengine fails deep inside a base lookup or a
registry import; this module names the extra instead.

mmengine's ``Config.merge_from_dict`` adds any key it is given, so ``randomnes.seed=5``
creates a top-level entry nobody reads and the run goes on with the old seed;
:func:`merge_cfg_options` refuses unknown top-level keys instead, naming the closest one, and
new nested keys that look like a misspelt existing one (``train_cfg.max_epoch``).
"""
import difflib
import importlib
import inspect
from pathlib import Path
from typing import Any

from mmengine.config import Config
from mmengine.runner import Runner

SEGMENTATION_EXTRA = ("pip install 'rga_mm[seg]' (mmsegmentation and mmcv with its compiled "
                      "ops; in a checkout: bash tools/misc/ensure_env.sh full)")


def segmentation_unavailable() -> str:
    """Why mmsegmentation cannot be imported here, or '' when it can."""
    try:
        importlib.import_module('mmseg')
        importlib.import_module('mmcv.ops')
    except ImportError as error:  # also mmcv.ops' failure to load mmcv._ext
        return f'{type(error).__name__}: {error}'
    return ''


def require_segmentation(what: str) -> None:
    """Raise one sentence naming the ``seg`` extra when mmsegmentation is unusable."""
    reason = segmentation_unavailable()
    if reason:
        raise ImportError(f'{what} needs mmsegmentation, which cannot be imported here '
                          f'({reason}); install the segmentation extra: {SEGMENTATION_EXTRA}')


def mentions_mmseg(node: Any) -> bool:
    """Whether a config (or any part of it) builds something from mmseg's registries."""
    if isinstance(node, str):
        return node == 'mmseg' or node.startswith('mmseg.')
    if isinstance(node, dict):
        return any(mentions_mmseg(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return any(mentions_mmseg(value) for value in node)
    return False


def load_config(path: str | Path) -> Config:
    """``Config.fromfile(path)``, refusing a missing file or a missing ``seg`` extra."""
    path = str(path)
    if Path(path).is_dir():
        raise FileNotFoundError(f'config {path} is a folder; give a config file (.py) in it')
    if not Path(path).is_file():
        raise FileNotFoundError(f'config file {path} does not exist')
    if Path(path).suffix not in ('.py', '.json', '.yml', '.yaml'):
        raise ValueError(f'config {path} is no config file: mmengine reads .py (and '
                         f'.json, .yml, .yaml) configs')
    try:
        cfg = Config.fromfile(path)
    except Exception as error:
        if 'mmseg' in str(error):  # an ``mmseg::`` base that cannot be resolved
            require_segmentation(f'the config {path}')
        raise
    if mentions_mmseg(cfg.to_dict()):
        require_segmentation(f'the config {path}')
    return cfg


# top-level keys mmengine's Runner reads although no config of ours sets them
RUNNER_KEYS = frozenset(
    [name for name in inspect.signature(Runner.__init__).parameters
     if name not in ('self', 'cfg')] +
    ['model_wrapper_cfg', 'find_unused_parameters', 'sync_bn', 'compile',
     'activation_checkpointing', 'efficient_conv_bn_eval'])


def merge_cfg_options(cfg: Config, options: dict | None, source: str = '') -> None:
    """``cfg.merge_from_dict(options)``, refusing a key whose first part is neither in the
    config nor read by mmengine's Runner (a typo would be silently ignored), and a new key
    inside an existing dict that is a near-spelling of one of its keys.

    Adding a new entry inside an existing dict (an option of a transform, a hook) is
    legitimate, so a nested key is refused only when it is that close to an existing
    sibling (:func:`misspelt_sibling`): mistyped, it would be ignored
    (``env_cfg.cudnn_bencmark``) or fail the run where it is read, perhaps hours in.

    Raises:
        ValueError: one sentence naming the key, the closest existing key and ``source``.
    """
    if not options:
        return
    known = set(cfg.keys()) | RUNNER_KEYS
    where = f'the config {source}' if source else 'the config'
    for key in options:
        top = key.split('.')[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            hint = (f'did you mean {close[0]!r}?' if close else
                    f'its top-level keys are {", ".join(sorted(cfg.keys()))}')
            raise ValueError(
                f'--cfg-options {key}: {where} has no top-level key {top!r} and mmengine\'s '
                f'Runner does not read one, so the option would be ignored; {hint}')
        sibling = misspelt_sibling(cfg, key)
        if sibling is not None:
            parent, name = key.rsplit('.', 1)
            raise ValueError(
                f'--cfg-options {key}: {parent} in {where} has no key {name!r}; did you mean '
                f'{sibling!r}? (a new key this close to an existing one is taken for a '
                f'typo; to add it on purpose, set it in a config file)')
    cfg.merge_from_dict(options)


def misspelt_sibling(cfg: Config, key: str) -> str | None:
    """The existing key that a new dotted ``key`` seems to misspell, or None.

    ``key`` is new when its parent dict exists in ``cfg`` without its last part; it is a
    misspelling when an existing key of that dict is within difflib's 0.8 similarity and
    differs from it in more than digits (``layer2`` beside ``layer1`` is a new entry).
    """
    *path, name = key.split('.')
    parent = cfg
    for part in path:
        if not isinstance(parent, (Config, dict)) or part not in parent:
            return None
        parent = parent[part]
    if not path or not isinstance(parent, dict) or name in parent:
        return None
    siblings = [k for k in parent if isinstance(k, str)
                and k.rstrip('0123456789') != name.rstrip('0123456789')]
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.8)
    return close[0] if close else None
