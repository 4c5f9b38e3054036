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
  augmentation (derived from the seed, epoch and sample) continue the run exactly;
* a changed model setting that keeps every tensor's shape (another RGA ``mode``): the
  weights would load and train on in another network;
* a checkpoint saved inside an epoch of an epoch-based run (by iteration): mmengine's
  ``EpochBasedTrainLoop`` restarts the epoch it was saved in from its first batch while
  the iteration count goes on from the checkpoint's, so batches would be trained twice.

A resumed run with steps of another size (other processes or batch size) is noted, not
stopped (:func:`batch_change_notice`). ``tools/test.py`` only notes a changed model setting
(:func:`model_change_notice`): testing a checkpoint under another setting can be
deliberate.
"""
import ast
import os.path as osp
from typing import Any

from mmengine.config import Config

from rga_mm.checks import is_positive_int
from rga_mm.errors import ConfigError
from .distributed import sync_bn_as_bn

# the config entries whose values a restored state replaces, by the checkpoint key holding
# that state (mmengine's Runner.resume restores each state the checkpoint has)
RESTORED_ENTRIES = {'optimizer': ('optim_wrapper.optimizer', 'optim_wrapper.paramwise_cfg'),
                    'param_schedulers': ('param_scheduler', )}
# changed entries named in a refusal
MAX_LISTED_CHANGES = 3
# model config keys, at any depth, not compared with the saved run's: init_cfg and the older
# pretrained path only say how weights are initialised (ImageNet weights to start from), and
# the checkpoint's weights are loaded over them; test_cfg only says how the model infers
# (mmseg's whole-image or sliding-window test), which validation may switch mid-run.
# data_preprocessor is compared: its mean, std and channel order decide what the trained
# weights see.
UNCOMPARED_KEYS = frozenset({'init_cfg', 'pretrained', 'test_cfg'})


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


def outside_run_notice(checkpoint: str, cfg: Config) -> str:
    """A line saying that the work dir's ``last_checkpoint`` names a checkpoint outside the
    folder this run saves checkpoints to (a work dir copied from another run still names
    that run's files), or ''. That folder is the work dir, or, with the checkpoint hook's
    ``out_dir``, mmengine's ``<out_dir>/<work dir name>``."""
    work_dir = cfg.work_dir
    out_dir = (cfg.get('default_hooks') or {}).get('checkpoint', {}).get('out_dir')
    folder = (osp.join(out_dir, osp.basename(osp.normpath(work_dir))) if out_dir
              else work_dir)
    if osp.realpath(osp.dirname(osp.abspath(checkpoint))) == osp.realpath(folder):
        return ''
    return (f'resuming from {checkpoint}, which {osp.join(work_dir, "last_checkpoint")} '
            f'names outside {folder}, where this run saves its checkpoints (copied from '
            f'another run?); give --resume CKPT to resume from another checkpoint')


def earlier_run_notice(cfg: Config) -> str:
    """For a run that does not resume: a line saying that its work dir holds an earlier
    run's record of its last checkpoint, whose checkpoints of the names this run writes
    (``epoch_N.pth``, ``iter_N.pth``) will be replaced, and how to continue that run
    instead; '' for a work dir without one. mmengine replaces them without a word."""
    record = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return ''
    return (f'notice: {cfg.work_dir} holds an earlier run ({record}); this run starts anew '
            f'and replaces its checkpoints of the same names: pass --resume to continue it, '
            f'or give another --work-dir to keep it')


def adopt_resumed_seed(cfg: Config, checkpoint: dict) -> None:
    """Set ``cfg``'s seed to the one ``checkpoint`` was trained with where the config sets
    none (before the Runner is built, which seeds the data loaders)."""
    seed = checkpoint.get('meta', {}).get('seed')
    if seed is None:
        return
    if cfg.get('randomness') is None:
        cfg.randomness = {}
    if cfg.randomness.get('seed') is None:
        cfg.randomness['seed'] = seed


def check_resumed_run_unchanged(cfg: Config, checkpoint: dict, path: str) -> None:
    """A ``ConfigError`` when resuming ``checkpoint`` (at ``path``) under ``cfg`` would not
    continue its run: another seed (:func:`check_seed_unchanged`) or a setting the restored
    state overwrites (:func:`check_restored_settings_unchanged`). Run once the checkpoint
    is known to fit the model: another model's checkpoint is named as such first."""
    check_seed_unchanged(cfg, checkpoint, path)
    check_restored_settings_unchanged(cfg, checkpoint, path)
    check_model_unchanged(cfg, checkpoint, path)


def check_seed_unchanged(cfg: Config, checkpoint: dict, path: str) -> None:
    """A ``ConfigError`` when ``cfg`` sets a seed other than ``checkpoint``'s."""
    seed = checkpoint.get('meta', {}).get('seed')
    configured = (cfg.get('randomness') or {}).get('seed')
    if seed is not None and configured is not None and configured != seed:
        raise ConfigError(
            f'{path} was trained with seed {seed} and randomness.seed is {configured} here: '
            f'a resumed run keeps its seed, which decides its data order and augmentation; '
            f'drop the new seed, or start a new run from its weights with --cfg-options '
            f'load_from={path}')


def check_restored_settings_unchanged(cfg: Config, checkpoint: dict, path: str) -> None:
    """A ``ConfigError`` when ``cfg`` changes an entry of :data:`RESTORED_ENTRIES` from the
    config saved in ``checkpoint`` (at ``path``) that a state the checkpoint holds would
    overwrite. Entries the saved config does not give, or not as plain values, are not
    checked."""
    before, now = saved_config(checkpoint), cfg.to_dict()
    changes = []
    for state, entries in RESTORED_ENTRIES.items():
        if state not in checkpoint:
            continue
        for entry in entries:
            saved = _lookup(before, entry) if entry.split('.')[0] in before else UNREADABLE
            if saved is not UNREADABLE:
                changes += changed_entries(saved, _lookup(now, entry), entry)
    if changes:
        raise ConfigError(
            f'--resume restores the optimizer and learning-rate schedule saved in {path}, '
            f'which would overwrite these changes to its run\'s config: {listed(changes)}; '
            f'resume without them, or start a new run from its weights with --cfg-options '
            f'load_from={path}')


def check_model_unchanged(cfg: Config, checkpoint: dict, path: str) -> None:
    """A ``ConfigError`` when ``cfg``'s model differs from the one ``checkpoint`` (at
    ``path``) was trained as (:func:`model_changes`): its weights fit, the network does not."""
    changes = model_changes(cfg, checkpoint)
    if changes:
        raise ConfigError(
            f'--resume would train the weights of {path} on in another model than its run\'s, '
            f'changed in the config: {listed(changes)}; resume without these changes, or '
            f'start a new run from its weights with --cfg-options load_from={path}')


def model_change_notice(cfg: Config, checkpoint: dict, path: str) -> str:
    """A line naming the model settings of ``cfg`` that differ from those ``checkpoint``
    (at ``path``) was trained with (:func:`model_changes`), or ''."""
    changes = model_changes(cfg, checkpoint)
    if not changes:
        return ''
    return (f'notice: {path} was trained with other model settings than the config\'s, '
            f'which it is tested with: {listed(changes)}')


def model_changes(cfg: Config, checkpoint: dict) -> list[str]:
    """``'model.key old → new'`` for each setting of ``cfg``'s ``model`` entry that differs
    from the config saved in ``checkpoint`` (compared as :func:`_comparable` gives them); none
    when the checkpoint saved no config, or its ``model`` entry is not plain values."""
    saved = saved_config(checkpoint).get('model', UNREADABLE)
    if not isinstance(saved, dict):
        return []
    return changed_entries(_comparable(saved), _comparable(cfg.to_dict().get('model')),
                           'model')


def _comparable(model_cfg: Any) -> Any:
    """A copy of a ``model`` config entry as compared across runs: without the keys of
    :data:`UNCOMPARED_KEYS`, and with BN for SyncBN, which a run distributed on the CPU gets
    in place of SyncBN (:func:`~rga_mm.engine.launch.distributed.sync_bn_as_bn`) and a GPU
    run of the same config keeps: the same weights and network either way."""
    comparable = _without_uncompared_keys(model_cfg)
    sync_bn_as_bn(comparable)
    return comparable


def _without_uncompared_keys(value: Any) -> Any:
    """``value`` with the dict keys of :data:`UNCOMPARED_KEYS` left out, at any depth."""
    if isinstance(value, dict):
        return {key: _without_uncompared_keys(item) for key, item in value.items()
                if key not in UNCOMPARED_KEYS}
    if isinstance(value, (list, tuple)):
        return type(value)(_without_uncompared_keys(item) for item in value)
    return value


def listed(changes: list[str]) -> str:
    """The first :data:`MAX_LISTED_CHANGES` of ``changes``, and how many more there are."""
    text = '; '.join(changes[:MAX_LISTED_CHANGES])
    if len(changes) > MAX_LISTED_CHANGES:
        text += f'; and {len(changes) - MAX_LISTED_CHANGES} more'
    return text


def batch_change_notice(cfg: Config, checkpoint: dict, path: str, world_size: int) -> str:
    """A line saying that resuming ``checkpoint`` (at ``path``) with ``world_size``
    processes and ``cfg``'s ``train_dataloader.batch_size`` changes the images of a training
    step (processes × batch size) from those of its run (the saved config's batch size,
    and the world size its ``meta`` records; where it records none, the same as today's),
    or ''.

    mmengine's own check of a changed GPU count reads a config key that configs no longer
    have; its intent, a changed step at the learning rate restored from the checkpoint, is
    said here, without stopping a run that is moved to other machines on purpose."""
    saved_batch = _lookup(saved_config(checkpoint), 'train_dataloader.batch_size')
    batch = (cfg.get('train_dataloader') or {}).get('batch_size')
    if not (is_positive_int(saved_batch) and is_positive_int(batch)):
        return ''
    saved_world = checkpoint.get('meta', {}).get('world_size')
    if not is_positive_int(saved_world):
        saved_world = world_size
    before, after = saved_world * saved_batch, world_size * batch
    if before == after:
        return ''
    return (f'notice: {path} was trained by {_processes(saved_world)} × {saved_batch} images '
            f'a batch ({before} a step), this run by {_processes(world_size)} × {batch} '
            f'({after} a step): it goes on at the learning rate restored from the checkpoint, '
            f'with {"larger" if after > before else "smaller"} steps and epochs of another '
            f'number of iterations; resume with the run\'s processes and '
            f'train_dataloader.batch_size to continue it as it was')


def _processes(count: int) -> str:
    return f'{count} process' if count == 1 else f'{count} processes'


def saved_iters_per_epoch(checkpoint: dict) -> int | None:
    """The iterations an epoch of the run that saved ``checkpoint``: its message hub's
    ``max_iters`` over ``max_epochs`` (mmengine's RuntimeInfoHook records both for an
    epoch-based loop); None where they are missing (an iteration-based run, another
    writer). The run's own length, not today's data loader's: another world size or batch
    size changes that, and an ``epoch_N.pth`` still ends an epoch."""
    info = (checkpoint.get('message_hub') or {}).get('runtime_info') or {}
    max_iters, max_epochs = info.get('max_iters'), info.get('max_epochs')
    if not (is_positive_int(max_iters) and is_positive_int(max_epochs)):
        return None
    if max_iters % max_epochs:
        return None
    return max_iters // max_epochs


def check_resumes_at_epoch_end(meta: dict, path: str, iters_per_epoch: int) -> None:
    """A ``ConfigError`` when a checkpoint whose ``meta`` (at ``path``) records an epoch and
    an iteration, resumed in an epoch-based loop of ``iters_per_epoch`` iterations an epoch
    (its train data loader's length), was not saved at the end of its recorded epoch:
    mmengine's ``EpochBasedTrainLoop`` goes on at the first batch of the next epoch while
    counting iterations on from the checkpoint's. Where ``meta`` says that it ends an epoch
    (``epoch_end``, written by rga_mm's checkpoint hook) that is taken as read: a run resumed
    with another epoch length (world size, batch size) has counted iterations of both
    lengths. Otherwise an epoch's end is where the iteration is ``epoch`` whole epochs."""
    epoch, iteration = meta.get('epoch'), meta.get('iter')
    if meta.get('epoch_end') is True:  # recorded by AtomicCheckpointHook when it saved
        return
    if epoch is None or iteration is None or iteration == epoch * iters_per_epoch:
        return
    raise ConfigError(
        f'{path} records epoch {epoch} and iteration {iteration}, but this run\'s epoch-based '
        f'loop resumes it at the first batch of epoch {epoch + 1}, iteration '
        f'{epoch * iters_per_epoch + 1} here ({iters_per_epoch} iterations an epoch), while '
        f'counting on from iteration {iteration + 1}: it would not continue the run; resume '
        f'from a checkpoint saved at the end of an epoch (epoch_N.pth), as '
        f'default_hooks.checkpoint.by_epoch=True saves them')


# a saved config entry that is not written as plain values (see saved_config)
UNREADABLE = object()


def saved_config(checkpoint: dict) -> dict[str, Any]:
    """The top-level entries of the config mmengine's Runner saved in the checkpoint's
    ``meta['cfg']`` (the config's text), read without running it: the text comes with the
    checkpoint, which is read with ``weights_only=True`` so that it cannot run code. An
    entry is its value where it is written as literals, lists, tuples, dicts and
    ``dict(...)`` calls, else :data:`UNREADABLE`; no entries where there is no such text or
    it is no Python."""
    text = checkpoint.get('meta', {}).get('cfg')
    try:
        module = ast.parse(text) if isinstance(text, str) else ast.Module(body=[])
    except SyntaxError:
        return {}
    entries = {}
    for statement in module.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            try:
                entries[statement.targets[0].id] = _plain_value(statement.value)
            except ValueError:
                entries[statement.targets[0].id] = UNREADABLE
    return entries


def _plain_value(node: ast.expr) -> Any:
    """The value of a literal expression in which ``dict(key=value, ...)`` may stand for a
    dict; a ValueError for anything else (a name, another call, an operation)."""
    if isinstance(node, ast.Call):
        if (not isinstance(node.func, ast.Name) or node.func.id != 'dict' or node.args
                or any(keyword.arg is None for keyword in node.keywords)):
            raise ValueError('not a dict(...) of keywords')
        return {keyword.arg: _plain_value(keyword.value) for keyword in node.keywords}
    if isinstance(node, ast.Dict):
        if None in node.keys:
            raise ValueError('a ** in a dict')
        return {_plain_value(key): _plain_value(value)
                for key, value in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_plain_value(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    return ast.literal_eval(node)


def _lookup(cfg: dict, dotted: str) -> Any:
    """The value at the dotted key of nested dicts; None where a key is missing, and
    :data:`UNREADABLE` inside an entry that is."""
    node: Any = cfg
    for key in dotted.split('.'):
        if node is UNREADABLE:
            return UNREADABLE
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
