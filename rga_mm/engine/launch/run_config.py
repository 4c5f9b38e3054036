"""The command-line handling tools/train.py and tools/test.py share (the other tools take
``--partial-load`` and ``--out`` with the same help and checks)."""
import argparse
import itertools
import os
import os.path as osp
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn

from rga_mm.apis.checkpoints import (
    PARTIAL_HINT,
    CheckpointError,
    check_checkpoint_fits,
    state_dict_of,
)
from rga_mm.checks import is_number
from rga_mm.datasets.folder_listing import IMAGE_SUFFIXES, file_id
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.engine.hooks import (
    CheckHeadsFitNeckHook,
    CheckpointWriteError,
    CheckValidationSizeHook,
)
from rga_mm.errors import ConfigError, DatasetError, type_name
from rga_mm.models.raising_module import placed_message
from rga_mm.models.segmentor_checks import check_segmentor
from rga_mm.models.unwrap import model_of
from rga_mm.unregistered_type import unregistered_type_message
from .class_count import check_heads_cover_classes
from .config import DATALOADERS, CfgOptionsAction, load_config, merge_cfg_options
from .distributed import explain_timeouts
from .loader_settings import check_loader_settings
from .saved_config import ConfigKeepingTestRunner, ConfigKeepingTrainRunner, discarded_on_error

PARTIAL_LOAD_HELP = ('load a checkpoint that lacks some of the model\'s tensors, has extra '
                     'ones or ones of other shapes: only the tensors whose names and shapes '
                     'match are loaded, the others keep their initial values (without it such '
                     'a checkpoint is refused)')


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--partial-load``, ``--launcher`` and ``--local-rank``, as in
    OpenMMLab's tools (``--partial-load`` is rga_mm's)."""
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument('--partial-load', action='store_true', help=PARTIAL_LOAD_HELP)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_run_args(parser: argparse.ArgumentParser,
                   argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``argv``, default ``sys.argv``); a ``--local-rank`` given by
    an old launcher becomes ``LOCAL_RANK`` unless the environment already has one (torchrun
    sets it)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_run_config(config: str, launcher: str, cfg_options: dict | None,
                    work_dir: str | None, loaders: Sequence[str] = DATALOADERS) -> Config:
    """Load ``config`` and apply ``--launcher``, ``--cfg-options`` and ``--work-dir``;
    ``loaders``: the data loaders the run reads (only ``test_dataloader`` for a test).

    Without ``--work-dir`` or a ``work_dir`` in the config, runs go to
    ``./work_dirs/<config name>``, as in OpenMMLab's tools. A ``--cfg-options`` key whose
    top level the config does not have (a typo) stops the run, naming the closest key, and
    so do a work dir that cannot be written and heads with fewer outputs than their data has
    classes (tools/train.py checks the ``train_cfg`` counts too: :func:`check_train_counts`).
    """
    try:
        cfg = load_config(config)
    except (FileNotFoundError, ValueError) as error:  # missing, a folder, no config file
        raise SystemExit(str(error)) from None
    except ImportError as error:  # a segmentation config without the seg extra
        raise SystemExit(str(error)) from error
    cfg.launcher = launcher
    try:
        merge_cfg_options(cfg, cfg_options, config)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    check_output_dir(cfg.work_dir, 'work dir', 'another --work-dir')
    try:
        check_heads_cover_classes(cfg, loaders)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    keep_workers_only_with_workers(cfg)
    return cfg


def check_output_dir(folder: str, label: str, instead: str) -> None:
    """Stop now if ``folder`` or a folder above it is a file, or if the folder cannot be
    created or written (no write permission, a read-only file system): nothing could be
    written there (the Runner's logs in a work dir, a tool's pictures). The message opens
    with ``label`` and suggests ``instead``."""
    check_output_folder(folder, label, instead)
    check_folder_writable(folder, label, instead)


def check_folder_writable(folder: str, label: str, instead: str) -> None:
    """Stop, before any work, when nothing can be written in ``folder`` or, where it does
    not exist yet, in the nearest folder above it that does (it could not be created).

    The test makes a folder there and removes it again, so that it also holds for root, for
    whom permission bits do not stop writes while a read-only or virtual file system does;
    the message opens with ``label`` and suggests ``instead``.
    """
    existing = osp.abspath(folder)
    while not osp.isdir(existing):
        existing = osp.dirname(existing)
    try:
        os.rmdir(tempfile.mkdtemp(prefix='.write_test_', dir=existing))
    except OSError as error:
        reason = ('no write permission' if isinstance(error, PermissionError) else
                  error.strerror or type(error).__name__)
        what = ('cannot be written' if existing == osp.abspath(folder) else
                f'cannot be created in {existing}')
        raise SystemExit(f'{label} {folder} {what} ({reason}); choose {instead}') from None


# train_cfg counts that must be positive: a loop of no epochs or iterations trains nothing
TRAIN_COUNTS = ('max_epochs', 'max_iters')
# mmengine's two training loops, each with the count it takes
LOOP_COUNTS = {'EpochBasedTrainLoop': ('max_epochs', 'epochs'),
               'IterBasedTrainLoop': ('max_iters', 'iterations')}


def check_train_counts(cfg: Config) -> None:
    """Stop, before anything is built, on a ``train_cfg`` count the loop does not take
    (:func:`check_loop_takes_its_count`) or below 1: ``max_epochs`` or ``max_iters``
    (nothing would be trained) and, where the config validates, ``val_interval``
    (mmengine's loops divide by it after the first epoch)."""
    train_cfg = cfg.get('train_cfg') or {}
    check_loop_takes_its_count(train_cfg)
    for key in TRAIN_COUNTS:
        value = train_cfg.get(key)
        if is_number(value) and value < 1:
            unit = 'epochs' if key == 'max_epochs' else 'iterations'
            raise SystemExit(f'train_cfg.{key} is {value}, so nothing would be trained: set '
                             f'train_cfg.{key} to a positive number of {unit}')
    interval = train_cfg.get('val_interval')
    if is_number(interval) and interval < 1 and runs_validation(cfg):
        unit = 'iterations' if 'max_iters' in train_cfg else 'epochs'
        raise SystemExit(
            f'train_cfg.val_interval is {interval}, but it is the number of {unit} between '
            f'validations: set train_cfg.val_interval to a positive number (validation also '
            f'runs after the last one), or, to never validate, set val_dataloader, val_cfg '
            f'and val_evaluator to None')


def train_loop_type(train_cfg: dict) -> str | None:
    """The name of the mmengine loop the Runner builds from ``train_cfg``, where it is one
    of :data:`LOOP_COUNTS`: its ``type`` (a scope prefix dropped), else
    ``EpochBasedTrainLoop`` or ``IterBasedTrainLoop`` as its ``by_epoch`` says; else None."""
    loop = train_cfg.get('type')
    if isinstance(loop, str):
        loop = loop.rpartition('.')[2]
    elif loop is None and 'by_epoch' in train_cfg:
        loop = 'EpochBasedTrainLoop' if train_cfg['by_epoch'] else 'IterBasedTrainLoop'
    return loop if loop in LOOP_COUNTS else None


def check_loop_takes_its_count(train_cfg: dict) -> None:
    """Stop when ``train_cfg`` holds the count of the other training loop (``max_iters``
    for a loop by epochs, ``max_epochs`` for one by iterations), which mmengine's loop
    refuses with a TypeError once the run has started."""
    loop = train_loop_type(train_cfg)
    if loop is None:
        return
    own, unit = LOOP_COUNTS[loop]
    for other, (other_count, _) in LOOP_COUNTS.items():
        if other != loop and other_count in train_cfg:
            raise SystemExit(f'train_cfg.{other_count} is set, but this config trains by '
                             f'{unit} ({loop}, train_cfg.{own}={train_cfg.get(own)}), which '
                             f'takes no {other_count}: set train_cfg.{own} instead')


def runs_validation(cfg: Config) -> bool:
    """Whether mmengine's Runner would build a validation loop for ``cfg``: it does when
    ``val_dataloader``, ``val_cfg`` and ``val_evaluator`` are all set (it refuses some but
    not all)."""
    return all(cfg.get(key) is not None
               for key in ('val_dataloader', 'val_cfg', 'val_evaluator'))


def check_output_folder(folder: str, label: str, instead: str) -> None:
    """Stop, before any work, when ``folder`` or a folder above it is a file (nothing
    could be written there); the message opens with ``label`` and suggests ``instead``."""
    a_file = file_above(osp.abspath(folder))
    if a_file is not None:
        raise SystemExit(f'{label} {folder}: {a_file} is a file, not a folder; choose '
                         f'{instead}')


def image_named_folder_refusal(out: str, tool: str, writes: str) -> str | None:
    """The sentence refusing ``--out`` ``out``, the folder ``tool`` writes ``writes`` into,
    when it is named like an image file and is no folder yet; None otherwise (for
    ``parser.error``, before anything is loaded)."""
    path = Path(out)
    if path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir():
        return (f'--out {out} names an image file, but {tool} writes {writes}: give a '
                f'folder, e.g. {path.with_suffix("")}')
    return None


def keep_workers_only_with_workers(cfg: Config) -> None:
    """Turn off ``persistent_workers`` in a data loader set to ``num_workers=0``.

    PyTorch's DataLoader refuses the pair, so ``--cfg-options train_dataloader.
    num_workers=0`` (to debug in one process) would stop a config that keeps its workers;
    with no worker there is nothing to keep.
    """
    for name in DATALOADERS:
        loader = cfg.get(name)
        if loader and loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
            loader.persistent_workers = False


@contextmanager
def stop_on_input_errors() -> Iterator[None]:
    """Turn a missing file, a malformed dataset or a setting a component cannot take inside
    the block into a stop with its message alone.

    The Runner builds its components from the config and, inside ``train()`` and ``test()``,
    its data loaders, so a wrong ``data_root``, a bad annotation row, a missing ImageNet
    checkpoint, an out-of-range metric option or a model built for another input size
    surfaces there, as do an image file that cannot be read and a checkpoint that cannot be
    written (a full disk), hours into a run; the message (a FileNotFoundError's, a
    :class:`~rga_mm.errors.DatasetError`'s, a :class:`~rga_mm.errors.ConfigError`'s, an
    ``UnreadableImageError``'s or a ``CheckpointWriteError``'s) names the file or setting and
    what to do, and a traceback through mmengine adds nothing
    (nor does the worker's traceback in the message of one raised in a DataLoader worker);
    so does a config ``type`` that no registry holds
    (:func:`~rga_mm.unregistered_type.unregistered_type_message`).
    """
    try:
        yield
    except (FileNotFoundError, DatasetError, ConfigError, UnreadableImageError,
            CheckpointWriteError) as error:
        raise SystemExit(run_error_message(error)) from None
    except KeyError as error:  # a config type no registry holds; any other is a bug
        message = unregistered_type_message(error)
        if message is None:
            raise
        raise SystemExit(message) from None


# how PyTorch's DataLoader begins the message of an error it re-raises from a worker process
WORKER_ERROR = re.compile(r'Caught \w+ in DataLoader worker process \d+\.')


def run_error_message(error: Exception) -> str:
    """The message of ``error``: for one a DataLoader worker raised, the worker's own message
    (PyTorch re-raises it with the worker's traceback as its message, which ends in
    ``<type>: <message>``); for one a module of the model raised, prefixed with the module's
    place in the model (:func:`~rga_mm.models.raising_module.placed_message`)."""
    text = str(error)
    if not WORKER_ERROR.match(text):
        return placed_message(error)
    name = type_name(error)
    start = text.rfind(f'\n{name}: ')
    return text[start + len(name) + 3:].strip() if start >= 0 else text


def check_output_file(path: str | None, option: str = '--out',
                      example: str = 'metrics.json') -> None:
    """Make sure, now and not after a whole evaluation, that the file ``path`` can be
    written: its missing folders are created (as mmengine's ``dump`` does), and a ``path``
    that is a folder (the error suggests the file ``example`` in it), below a file, or in a
    folder without write permission stops the tool."""
    if path is None:
        return
    folder = osp.dirname(osp.abspath(path))
    check_not_folder(path, option, example)
    a_file = file_above(folder)
    if a_file is not None:
        raise SystemExit(f'{option} {path}: {a_file} is a file, not a folder; choose another '
                         f'path')
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:  # no write permission, a read-only file system, ...
        reason = ('no write permission' if isinstance(error, PermissionError) else
                  error.strerror or type(error).__name__)
        raise SystemExit(f'{option} {path}: the folder {folder} cannot be created '
                         f'({reason}); choose another path') from None
    if not os.access(folder, os.W_OK) or (osp.exists(path) and not os.access(path, os.W_OK)):
        raise SystemExit(f'{option} {path} cannot be written (no write permission); choose '
                         f'another path')


def check_not_folder(path: str, option: str = '--out', example: str = 'metrics.json') -> None:
    """Stop when the output file ``path`` is a folder or ends in a separator (the error
    suggests the file ``example`` in it); nothing is created, so a tool can run it before
    its own checks of the name and :func:`check_output_file` after them."""
    if osp.isdir(path) or path.endswith(('/', os.sep)):
        kind = 'is a folder' if osp.isdir(path) else 'ends in a separator, so names a folder'
        raise SystemExit(f'{option} {path} {kind}; give a file name in it, e.g. '
                         f'{osp.join(path, example)}')


def check_spares_inputs(outputs: Iterable[str], inputs: Iterable[str],
                        option: str = '--out') -> None:
    """Stop, before any work, when a file the tool would write is one of its input files
    (the same path, a link to it or a hard link of it), which writing would destroy: a
    checkpoint given as the ONNX file, an image whose folder receives the pictures drawn
    from it under its own name. The message names ``option``, both paths and asks for
    another path. Files are matched by (device, inode), each path stated once, so a gallery
    of many images costs one pass over it."""
    input_of = {}
    for path in inputs:
        if osp.isfile(path):
            input_of.setdefault(file_id(os.stat(path)), path)
    for output in outputs:
        try:
            path = input_of.get(file_id(os.stat(output)))
        except OSError:  # not there yet: nothing to overwrite
            continue
        if path is not None:
            link = '' if osp.abspath(output) == osp.abspath(path) else ' (the same file)'
            raise SystemExit(f'{option}: the output {output} would overwrite the input '
                             f'{path}{link}; choose another path')


def file_above(folder: str) -> str | None:
    """``folder`` or the first folder above it that exists as a file, or None."""
    path = folder
    while path != osp.dirname(path):
        if osp.exists(path) and not osp.isdir(path):
            return path
        path = osp.dirname(path)
    return None


def build_checked_runner(cfg: Config, checkpoint: dict | None, checkpoint_path: str | None,
                         partial_load: bool, testing: bool = False) -> Runner:
    """``Runner.from_cfg(cfg)`` (a :class:`~.saved_config.ConfigKeepingRunner`, which does
    not overwrite the config file it reads, nor, ``testing``, a training run's, and removes
    its run folder when it is refused here), refusing a
    segmentor whose heads do not fit its RGA neck or whose ``test_cfg`` names no inference
    mmseg runs
    (:func:`~rga_mm.models.segmentor_checks.check_segmentor`), data loaders with a batch size
    or number of workers they cannot take (:func:`.loader_settings.check_loader_settings`)
    and a ``checkpoint`` (read from
    ``checkpoint_path``, to be loaded by the Runner) that does not fit the Runner's model.

    mmengine loads with ``strict=False``: it logs what does not fit and runs on with random
    weights. The checks run on the model the Runner built, before it loads anything, so a
    ``CheckHeadsFitNeckHook`` of the config (for mmseg's own tools) has nothing left to
    check and is dropped; so is a ``CheckValidationSizeHook``, whose check tools/train.py
    runs itself before training. A collective timing out on a hung rank while the Runner is
    built is explained.
    """
    name_runs_apart(cfg)
    with explain_timeouts(cfg), stop_on_input_errors():
        check_loader_settings(cfg)
        runner = (ConfigKeepingTestRunner if testing else ConfigKeepingTrainRunner).from_cfg(cfg)
    with discarded_on_error(runner):
        with explain_timeouts(cfg), stop_on_input_errors():
            check_segmentor(model_of(runner.model))
        drop_check_hooks(runner)
        if checkpoint is not None:
            stop_unless_fits(model_of(runner.model), checkpoint, checkpoint_path, partial_load,
                             resuming=bool(cfg.get('resume')))
    return runner


_RUNS_BUILT = itertools.count(1)  # Runners built by build_checked_runner in this process


def name_runs_apart(cfg: Config) -> None:
    """Give a run that is not the first of this process an experiment name of its own.

    mmengine names a run's logger, visualizer and message hub ``<config name>_<timestamp>``,
    to the second, unless the config names its visualizer itself (mmseg's configs call it
    ``visualizer``), and hands out an existing instance of a name: a later run built in the
    same process (a script or notebook calling a tool's ``main`` twice, the tests) logs and
    draws into an earlier run's folder, which may be gone. Every run after the first gets
    ``<config name>_run<n>`` as its experiment name (mmengine appends the timestamp), unless
    the config sets ``experiment_name``, and ``<name>_run<n>`` for a visualizer the config
    names; the first run keeps mmengine's names.
    """
    number = next(_RUNS_BUILT)
    if number == 1:
        return
    if cfg.get('experiment_name') is None and cfg.filename:
        cfg.experiment_name = f'{osp.splitext(osp.basename(cfg.filename))[0]}_run{number}'
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, dict) and visualizer.get('name') is not None:
        visualizer.name = f'{visualizer.name}_run{number}'


def drop_check_hooks(runner: Runner) -> None:
    """Remove the runner's :class:`~rga_mm.engine.hooks.CheckHeadsFitNeckHook`\\ s and
    :class:`~rga_mm.engine.hooks.CheckValidationSizeHook`\\ s, whose checks rga_mm's tools
    run themselves."""
    runner.hooks[:] = [hook for hook in runner.hooks
                       if not isinstance(hook, (CheckHeadsFitNeckHook, CheckValidationSizeHook))]


def stop_unless_fits(model: nn.Module, checkpoint: dict, checkpoint_path: str | None,
                     partial_load: bool, resuming: bool = False) -> None:
    """Stop with one sentence when ``checkpoint`` does not fit ``model`` (every tensor
    name and shape; with ``partial_load``, at least one tensor). For a run ``resuming`` it,
    the sentence does not offer a partial load, which cannot resume (the optimizer state fits
    only its own model), but the two ways that work."""
    fix = resume_hint(checkpoint_path) if resuming else PARTIAL_HINT
    try:
        check_checkpoint_fits(model, state_dict_of(checkpoint), checkpoint_path,
                              strict=not partial_load, fix=fix)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None


def resume_hint(checkpoint_path: str | None) -> str:
    """The end of a refusal to resume a checkpoint that does not fit the config's model."""
    return (f'to resume it, undo the config changes made since its run; to start a new run '
            f'from the tensors of it that fit, pass --cfg-options load_from={checkpoint_path} '
            f'--partial-load and do not resume')


def check_out_not_input_folder(out: str | os.PathLike, folders: Iterable[str],
                               message: Callable[[str], str]) -> None:
    """Stop with ``message(folder)`` when ``out`` is one of ``folders`` that is a directory
    (the same folder once resolved), whose files the tool reads as inputs: what it writes
    there would be read as inputs next time. A subfolder of one is not refused."""
    for folder in (item for item in folders if osp.isdir(item)):
        if osp.realpath(out) == osp.realpath(folder):
            raise SystemExit(message(folder))


def check_out_not_beside_named_files(out: str | os.PathLike, items: Iterable[str],
                                     message: Callable[[str, str], str]) -> None:
    """Stop with ``message(folder, file)`` when ``out`` is the folder of a file in ``items``
    given by name (``file``, the first such; a shell glob such as ``DIR/*`` gives a folder's
    files so): the next run over ``DIR/*`` would read what the tool writes there as inputs."""
    folders: dict[str, str] = {}
    for item in items:
        if osp.isfile(item):
            folders.setdefault(osp.dirname(osp.abspath(item)), item)
    check_out_not_input_folder(out, folders, lambda folder: message(folder, folders[folder]))
