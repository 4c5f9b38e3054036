"""Loading a config file, with one clear sentence when it needs the segmentation extra, and
merging ``--cfg-options`` into it without losing a mistyped key.

rga_mm's core (the RGA family, re-ID, CIFAR, the tools) runs on mmcv-lite. Segmentation
configs are mmsegmentation configs, and mmsegmentation imports mmcv's compiled ops, so they
need ``pip install 'rga_mm[seg]'``. Without it mmengine fails deep inside a base lookup or a
registry import; this module names the extra instead.

mmengine's ``Config.merge_from_dict`` adds any key it is given, so ``randomnes.seed=5``
creates a top-level entry nobody reads and the run goes on with the old seed;
:func:`merge_cfg_options` refuses unknown top-level keys instead, naming the closest one, and
new nested keys that look like a misspelt existing one (``train_cfg.max_epoch``). It also
refuses the config file's helper variables (``input_size``, ``data_root``, ``reid_dataset``,
``train_pipeline``, ...): the file used them while it was read, to fill in what the Runner
reads, so setting one afterwards changes nothing.

:class:`CfgOptionsAction` reads ``--cfg-options`` as mmengine's ``DictAction`` does, but a value
that ``DictAction`` cannot split into lists and tuples is an argparse error naming it.
"""
import argparse
import difflib
import importlib
import inspect
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from rga_mm.errors import ConfigError, error_chain
from rga_mm.package_files import MIM_ROOTS
from rga_mm.visualization.image_inputs import config_test_pipeline, fixed_resize_size
from .formatted_config import OnceFormattedConfig

SEGMENTATION_EXTRA = ("pip install 'rga_mm[seg]' (mmsegmentation and mmcv with its compiled "
                      "ops; in a checkout: bash tools/misc/ensure_env.sh full)")


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``KEY=VALUE`` pairs, commas and brackets read as lists and
    tuples, spaces dropped), with an argparse error naming the pair it cannot read, and the
    spaces of a plain value kept: ``data_root=/data/my data`` is that folder, where
    ``DictAction`` would read ``/data/mydata``.

    ``DictAction`` recurses without end on a value such as ``c(?P<camera>\\d{1,3})`` (a
    comma inside brackets it cannot balance) and fails a bare assertion on unbalanced
    brackets; either way the tool would end in a traceback that does not name the option.
    Such values (regular expressions, text with commas or spaces) belong in a config file.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Any:
        """A value that ``DictAction`` reads as a list or tuple (it has commas or brackets) as
        it reads it; any other as it is written (spaces around it and then quotes stripped;
        an int, float, bool or None where it reads as one), so that ``/data/(old) reid``,
        which ``DictAction`` reads as ``/data/(old)reid``, keeps its space."""
        if any(mark in val for mark in ',()[]'):
            parsed = DictAction._parse_iterable(val)
            if not isinstance(parsed, str):
                return parsed
        return DictAction._parse_int_float_bool(val.strip().strip('\'"'))

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: list[str], option_string: str | None = None) -> None:
        for pair in values:
            if '=' not in pair:
                raise argparse.ArgumentError(self, f'{pair!r} is not KEY=VALUE')
            try:
                super().__call__(parser, namespace, [pair], option_string)
            except (RecursionError, AssertionError):
                raise argparse.ArgumentError(
                    self, f'cannot read {pair!r}: --cfg-options reads commas and brackets as '
                    'lists and tuples and drops spaces; set a value like this in a config file '
                    "that inherits this one (_base_ = ['<this config>'])") from None


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


def load_config(path: str | Path) -> OnceFormattedConfig:
    """``Config.fromfile(path)``, refusing a missing file or a missing ``seg`` extra; as an
    :class:`OnceFormattedConfig`, so that a run formats its text once."""
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
    except SyntaxError as error:
        raise ValueError(f'config {path} is not valid Python: {error.msg} on line '
                         f'{error.lineno}') from error
    except json.JSONDecodeError as error:
        raise ValueError(f'config {path} is not one JSON object, as a .json config is '
                         f'({error}); a log such as scalars.json, one object a line, is no '
                         f'config: give the run\'s .py config') from None
    except AssertionError as error:  # mmengine's refusal of an 'rga_mm::' base
        if 'rga_mm' not in str(error):
            raise
        raise ValueError(package_base_refusal(path)) from None
    except Exception as error:
        # an ``mmseg::`` base that cannot be resolved, a ``custom_imports`` module that
        # imports mmseg (mmengine re-raises the ImportError with a message of its own)
        if any('mmseg' in str(cause) for cause in error_chain(error)):
            require_segmentation(f'the config {path}')
        raise
    if mentions_mmseg(cfg.to_dict()):
        require_segmentation(f'the config {path}')
    check_input_size_is_tested(cfg, path)
    return OnceFormattedConfig.of(cfg)


def check_input_size_is_tested(cfg: Config, path: str) -> None:
    """Raise a ConfigError when ``cfg``'s ``input_size`` is not the size its test pipeline
    resizes images to (a ``Resize`` to a fixed size, as the re-ID configs'): a config that
    inherits one and sets ``input_size`` alone changes neither its pipelines nor its
    attentions' sizes, which were worked out when the base was read, while the tools that
    make their own input (ONNX export, FLOP count, benchmark) would take ``input_size``."""
    size, pipeline = cfg.get('input_size'), config_test_pipeline(cfg)
    tested = fixed_resize_size(pipeline) if pipeline else None
    if tested is None or not isinstance(size, (list, tuple)) or tuple(size) == tested:
        return
    raise ConfigError(f'config {path}: input_size {tuple(size)} is not the size its test '
                      f'pipeline resizes images to, {tested}; a config that inherits another '
                      f'and sets input_size alone changes neither the pipelines nor the '
                      f'attentions\' sizes, which were worked out when the base was read: '
                      f'restate them as {input_size_doc(cfg)} shows, or leave input_size '
                      f'at {tested}')


def package_base_refusal(path: str) -> str:
    """The sentence for a config (or one of its bases) that inherits an rga_mm config as
    ``rga_mm::<task>/<name>.py``: mmengine resolves that form only for OpenMMLab's own
    packages, and refuses it with an assertion naming neither the file nor the fix."""
    configs = next((root / 'configs' for root in MIM_ROOTS if (root / 'configs').is_dir()),
                   'CONFIGS')
    return (f"config {path} inherits an rga_mm config as 'rga_mm::...', a form mmengine "
            f"resolves only for OpenMMLab's own packages (mmseg::, mmpretrain::): inherit it "
            f"by its path, e.g. _base_ = ['{configs}/reid/<config>.py']")


def load_config_with_options(path: str | Path, options: dict | None) -> Config:
    """:func:`load_config` with a tool's ``--cfg-options`` merged (:func:`merge_cfg_options`,
    keys named as given on the command line), for the tools that build a model without a
    Runner (get_flops.py, pytorch2onnx.py, browse_dataset.py)."""
    cfg = load_config(path)
    merge_cfg_options(cfg, options)
    return cfg


# how a cfg option's key is named in a refusal: as given on a tool's command line, and as
# given to a Python API's ``cfg_options`` dict
COMMAND_LINE_OPTION = '--cfg-options {}'
PYTHON_OPTION = "cfg_options['{}']"

# top-level keys mmengine's Runner reads although no config of ours sets them
RUNNER_KEYS = frozenset(
    [name for name in inspect.signature(Runner.__init__).parameters
     if name not in ('self', 'cfg')] +
    ['model_wrapper_cfg', 'find_unused_parameters', 'sync_bn', 'compile',
     'activation_checkpointing', 'efficient_conv_bn_eval'])


def merge_cfg_options(cfg: Config, options: dict | None, source: str = '',
                      option: str = COMMAND_LINE_OPTION) -> None:
    """``cfg.merge_from_dict(options)``, refusing a key that would change nothing: one whose
    first part is neither in the config nor read by mmengine's Runner (a typo), one inside a
    helper variable of the config file, and a new key inside an existing dict that is a
    near-spelling of one of its keys.

    A helper variable is a top-level key that the Runner does not read (``input_size``,
    ``data_root``, ``reid_dataset``, ``train_pipeline``, ...): the config file used it while
    it was read, to derive what the Runner reads (the pipelines, the RGA modules' sizes, the
    dataloaders' datasets), so a new value reaches none of those (:func:`check_not_helper`).
    A tool that reads one itself (``input_size`` in get_flops.py) would then measure a model
    that was not built for it.

    Adding a new entry inside an existing dict (an option of a transform, a hook) is
    legitimate, so a nested key is refused only when it is that close to an existing
    sibling (:func:`misspelt_sibling`): mistyped, it would be ignored
    (``env_cfg.cudnn_bencmark``) or fail the run where it is read, perhaps hours in.

    ``option`` names a key in the messages as its user gave it: ``'--cfg-options {}'`` on
    the command line, ``"cfg_options['{}']"`` in Python.

    Raises:
        ValueError: one sentence naming the key, what to set instead and ``source``.
    """
    if not options:
        return
    where = f'the config {source}' if source else 'the config'
    for key in options:
        label = option.format(key)
        check_known_top_level(cfg, key, where, label)
        check_not_helper(cfg, key, where, label)
        misspelt = misspelt_sibling(cfg, key)
        if misspelt is not None:
            parent, name, sibling = misspelt
            raise ValueError(
                f'{label}: {parent} in {where} has no key {name!r}; did you mean '
                f'{sibling!r}? (a new key this close to an existing one is taken for a '
                f'typo; to add it on purpose, set it in a config file)')
    warn_data_roots_left(cfg, options, option)
    cfg.merge_from_dict(options)


def warn_data_roots_left(cfg: Config, options: dict, option: str) -> None:
    """Warn when ``options`` give one data loader's ``dataset.data_root`` a new value and
    leave another loader's at the value replaced (they read the same data before): likely a
    slip, which would fail only once that loader's dataset is built, as a missing folder."""
    keys = {loader: f'{loader}.dataset.data_root' for loader in DATALOADERS}
    set_ones = [loader for loader, key in keys.items() if key in options]
    for loader in set_ones:
        replaced = _data_root(cfg, loader)
        if options[keys[loader]] == replaced:
            continue
        left = [keys[other] for other in DATALOADERS
                if other not in set_ones and not _replaced(other, options)
                and _data_root(cfg, other) == replaced]
        if replaced is not None and left:
            print_log(f'{option.format(keys[loader])} changes the data of {loader} only: '
                      f'{join_names(left)} still read{"s" if len(left) == 1 else ""} '
                      f'{replaced}; set {"it" if len(left) == 1 else "them"} too where they '
                      f'read the same data', logger='current', level=logging.WARNING)
            return


def _replaced(loader: str, options: dict) -> bool:
    """Whether ``options`` replace the data loader ``loader`` or its dataset as a whole
    (``val_dataloader=None`` to train without validation, for one)."""
    return loader in options or f'{loader}.dataset' in options


def _data_root(cfg: Config, loader: str) -> Any:
    """The ``dataset.data_root`` of the data loader ``loader`` in ``cfg``; None where it has
    none (no such loader, a dataset wrapper)."""
    dataset = (cfg.get(loader) or {}).get('dataset')
    return dataset.get('data_root') if isinstance(dataset, dict) else None


def check_known_top_level(cfg: Config, key: str, where: str, label: str) -> None:
    """Refuse ``key`` (``label`` in the message) when its first part is neither in ``cfg``
    nor read by the Runner, naming the closest key that can be set."""
    top = key.split('.')[0]
    if top in cfg or top in RUNNER_KEYS:
        return
    in_datasets = [f'{loader}.dataset.{key}' for loader in DATALOADERS
                   if top in ((cfg.get(loader) or {}).get('dataset') or {})]
    if in_datasets:
        raise ValueError(
            f'{label}: {where} has no top-level key {top!r}, so the option would '
            f'be ignored; {top} is a key of the dataloaders\' datasets: set '
            f'{join_names(in_datasets)} instead')
    close = difflib.get_close_matches(top, sorted(RUNNER_KEYS), n=1)
    settable = sorted(name for name in cfg.keys() if name in RUNNER_KEYS)
    hint = (f'did you mean {close[0]!r}?' if close else
            f'its top-level keys are {", ".join(settable)}')
    raise ValueError(
        f'{label}: {where} has no top-level key {top!r} and mmengine\'s '
        f'Runner does not read one, so the option would be ignored; {hint}')


def check_not_helper(cfg: Config, key: str, where: str, label: str) -> None:
    """Refuse ``key`` (``label`` in the message) when its first part is a helper variable of
    the config file: a top-level key of ``cfg`` that the Runner does not read (module
    docstring)."""
    top = key.split('.')[0]
    if top not in cfg or top in RUNNER_KEYS:
        return
    raise ValueError(
        f'{label}: {top} is a variable of {where} that the Runner does not '
        f'read, and its value was already used when the config file was read, so setting '
        f'it now changes nothing; {instead_of_helper(cfg, key)}')


def instead_of_helper(cfg: Config, key: str) -> str:
    """What to do instead of setting ``key`` inside a helper variable: set the entries the
    Runner reads that hold its value, where there are such (:func:`copies_of`), or write a
    config that inherits this one and restates what was derived from it."""
    top = key.split('.')[0]
    paths = [f'{path}{key[len(top):]}' for path in copies_of(cfg, top)]
    if not paths and key.split('.')[-1] == 'data_root':
        paths = [f'{loader}.dataset.data_root' for loader in DATALOADERS
                 if 'data_root' in ((cfg.get(loader) or {}).get('dataset') or {})]
    if paths:
        return f'set {join_names(paths)} instead'
    if top in ('input_size', 'stage_shapes'):
        return ('write a config that inherits this one and restates the sizes derived from '
                f'input_size ({input_size_doc(cfg)})')
    if top == 'custom_imports':  # mmengine imports them as it reads the file
        return 'write a config that inherits this one (_base_) and sets custom_imports there'
    return (f'write a config that inherits this one (_base_) and sets, besides {top}, the '
            f'entries derived from it')


# the page and section on another input size for the configs of each task, by the type of
# their model; every other config with an input_size is taken for a re-ID one
INPUT_SIZE_DOCS = {'ImageClassifier': 'docs/classification.md, "Another input size"'}
REID_INPUT_SIZE_DOC = 'docs/reid.md, "Another input size"'


def input_size_doc(cfg: Config) -> str:
    """The docs section that shows how a config of ``cfg``'s task moves to another input
    size: classification's for an ``ImageClassifier`` (with or without a scope, as
    ``mmpretrain.ImageClassifier``), re-ID's otherwise."""
    model_type = (cfg.get('model') or {}).get('type', '')
    name = model_type if isinstance(model_type, str) else getattr(model_type, '__name__', '')
    return INPUT_SIZE_DOCS.get(name.split('.')[-1], REID_INPUT_SIZE_DOC)


DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def copies_of(cfg: Config, top: str) -> list[str]:
    """Dotted paths, in config order, of the entries the Runner reads that received the
    value of the helper dict or list ``top`` (a dataloader's ``dataset`` filled from
    ``reid_dataset``, its ``pipeline`` from ``train_pipeline``); [] for a helper of another
    type."""
    value = cfg[top]
    if not isinstance(value, (dict, list)) or not value:
        return []
    return [path for name in cfg.keys() if name in RUNNER_KEYS
            for path in _paths_holding(name, cfg[name], value)]


def _paths_holding(path: str, node: Any, value: dict | list) -> Iterator[str]:
    """``path`` if ``node`` holds ``value`` (:func:`holds`), else the paths below it that do."""
    if holds(node, value):
        yield path
    elif isinstance(node, dict):
        for name, child in node.items():
            yield from _paths_holding(f'{path}.{name}', child, value)
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            yield from _paths_holding(f'{path}.{index}', child, value)


def holds(node: Any, value: dict | list) -> bool:
    """Whether ``node`` is a copy of ``value``: equal to it, or, for a dict, a dict holding
    all of its items (a dataloader's dataset adds ``split`` and ``pipeline``)."""
    if isinstance(value, dict):
        return isinstance(node, dict) and all(
            name in node and node[name] == item for name, item in value.items())
    return node == value


def join_names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f'{", ".join(names[:-1])} and {names[-1]}'


def misspelt_sibling(cfg: Config, key: str) -> tuple[str, str, str] | None:
    """(parent path, new part, the existing key it seems to misspell) for a dotted ``key``
    whose first part missing from ``cfg`` looks like a typo, or None.

    Following ``key`` down ``cfg``, the first part its dict lacks is new (``nek`` in
    ``model.nek.in_channels``, ``max_epoch`` in ``train_cfg.max_epoch``); it is a
    misspelling when an existing key of that dict is within difflib's 0.8 similarity and
    differs from it in more than digits (``layer2`` beside ``layer1`` is a new entry). A key
    below a list or a non-dict value is not looked into.
    """
    parts = key.split('.')
    parent = cfg
    for depth, part in enumerate(parts):
        if not isinstance(parent, (Config, dict)):
            return None
        if part not in parent:
            if depth == 0:
                return None  # a new top-level key: check_known_top_level's case
            siblings = [k for k in parent if isinstance(k, str)
                        and k.rstrip('0123456789') != part.rstrip('0123456789')]
            close = difflib.get_close_matches(part, siblings, n=1, cutoff=0.8)
            return ('.'.join(parts[:depth]), part, close[0]) if close else None
        parent = parent[part]
    return None
