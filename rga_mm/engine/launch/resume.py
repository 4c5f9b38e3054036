"""What ``tools/train.py --resume`` checks before the Runner resumes a run.

mmengine's Runner resumes from the checkpoint that ``<work dir>/last_checkpoint`` names
(``find_latest_checkpoint``, which fails with a decoding traceback on a file that is not
text and reads an empty one as a path ``''``), then restores the optimizer, the learning-rate
schedulers and the seed saved in the checkpoint over the config's. Two consequences that
mmengine only logs, or not at all, are stopped here with a sentence naming the fix:

* a changed optimizer or schedule (``optim_wrapper.optimizer.lr=0.1``, other milestones)
  would be overwritten by the restored state: the run would silently go on as before;
* a changed seed: mmengine re-seeds with the checkpoint's after the data loaders were
  built with the config's, so the resumed run repeats neither run. A config without a
  seed takes the checkpoint's before the Runner is built, so that the data order and the
  augmentation (derived from the seed, epoch and sample) continue the run exactly.
"""
import os.path as osp
from typing import Any

from mmengine.config import Config

from rga_mm.errors import ConfigError

# the config entries whose values the restored optimizer and scheduler states replace
RESTORED_ENTRIES = ('optim_wrapper.optimizer', 'optim_wrapper.paramwise_cfg', 'param_scheduler')
# changed entries named in a refusal
MAX_LISTED_CHANGES = 3


def last_checkpoint(work_dir: str) -> str | None:
    """The checkpoint ``<work_dir>/last_checkpoint`` names, None without that file; a
    ``ConfigError`` naming the file when it names nothing usable (binary data, nothing, a
    folder, a file that does not exist)."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    fix = 'give the checkpoint to resume from as --resume CKPT'
    try:
        with open(record, encoding='utf-8') as file:
            named = file.read().strip()
    except UnicodeDecodeError:
        raise ConfigError(f'{record} is no text file naming a checkpoint (it holds binary '
                          f'data); {fix}') from None
    if not named:
        raise ConfigError(f'{record} is empty: it names no checkpoint; {fix}')
    if osp.isdir(named):
        raise ConfigError(f'{record} names {named}, which is a folder, not a checkpoint; {fix}')
    if not osp.isfile(named):
        raise ConfigError(f'{record} names {named}, which does not exist; {fix}')
    return named


def outside_work_dir_notice(checkpoint: str, work_dir: str) -> str:
    """A line saying that ``last_checkpoint`` names a checkpoint outside ``work_dir`` (a
    work dir copied from another run still names that run's files), or ''."""
    folder = osp.realpath(osp.dirname(osp.abspath(checkpoint)))
    if folder == osp.realpath(work_dir):
        return ''
    return (f'resuming from {checkpoint}, which {osp.join(work_dir, "last_checkpoint")} '
            f'names outside the work dir {work_dir} (copied from another run?); give '
            f'--resume CKPT to resume from another checkpoint')


def adopt_resumed_seed(cfg: Config, checkpoint: dict, path: str) -> None:
    """Set ``cfg``'s seed to the one ``checkpoint`` (at ``path``) was trained with when the
    config sets none; a ``ConfigError`` when it sets another."""
    seed = checkpoint.get('meta', {}).get('seed')
    if seed is None:
        return
    if cfg.get('randomness') is None:
        cfg.randomness = {}
    randomness = cfg.randomness
    if randomness.get('seed') is None:
        randomness['seed'] = seed
    elif randomness['seed'] != seed:
        raise ConfigError(
            f'{path} was trained with seed {seed} and randomness.seed is {randomness["seed"]} '
            f'here: a resumed run keeps its seed, which decides its data order and '
            f'augmentation; drop the new seed, or start a new run from its weights with '
            f'--cfg-options load_from={path}')


def check_restored_settings_unchanged(cfg: Config, checkpoint: dict, path: str) -> None:
    """A ``ConfigError`` when ``cfg`` changes an entry of :data:`RESTORED_ENTRIES` from the
    config saved in ``checkpoint`` (at ``path``): the restored state would overwrite it.
    A checkpoint without a readable saved config is not checked."""
    saved = saved_config(checkpoint)
    if saved is None:
        return
    before, now = saved.to_dict(), cfg.to_dict()
    changes = []
    for entry in RESTORED_ENTRIES:
        changes += changed_entries(_lookup(before, entry), _lookup(now, entry), entry)
    if changes:
        listed = '; '.join(changes[:MAX_LISTED_CHANGES])
        if len(changes) > MAX_LISTED_CHANGES:
            listed += f'; and {len(changes) - MAX_LISTED_CHANGES} more'
        raise ConfigError(
            f'--resume restores the optimizer and learning-rate schedule saved in {path}, '
            f'which would overwrite these changes to its run\'s config: {listed}; resume '
            f'without them, or start a new run from its weights with --cfg-options '
            f'load_from={path}')


def saved_config(checkpoint: dict) -> Config | None:
    """The config mmengine's Runner saved in the checkpoint's ``meta['cfg']`` (its text),
    or None where it has none or it cannot be read back."""
    text = checkpoint.get('meta', {}).get('cfg')
    if not isinstance(text, str):
        return None
    try:
        return Config.fromstring(text, '.py')
    except Exception:  # any error of the config's code: the check is then skipped
        return None


def _lookup(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for key in dotted.split('.'):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def changed_entries(old: Any, new: Any, name: str) -> list[str]:
    """``'name.key: old → new'`` for every leaf where the nested dicts and lists ``old``
    and ``new`` differ (a leaf only one of them has reads as None there)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(set(old) | set(new), key=str)
                for change in changed_entries(old.get(key), new.get(key), f'{name}.{key}')]
    if (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))
            and len(old) == len(new) and any(isinstance(item, dict) for item in old)):
        return [change for index, (before, after) in enumerate(zip(old, new))
                for change in changed_entries(before, after, f'{name}.{index}')]
    if _plain(old) == _plain(new):
        return []
    return [f'{name} {_plain(old)!r} → {_plain(new)!r}']


def _plain(value: Any) -> Any:
    """Tuples as lists, as a config's text gives them back."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
