"""Train a model from an rga_mm config with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT] | --resume-or-start]
                                 [--partial-load] [--amp] [--auto-scale-lr]
                                 [--cfg-options k=v ...]
                                 [--launcher none|pytorch|slurm|mpi]

``--resume`` without CKPT resumes from the work dir's latest checkpoint and stops if there is
none; ``--resume-or-start`` then starts as a run without the flag would, from the config's
``load_from`` if it has one (for jobs that are requeued). A
checkpoint to resume from, or the config's ``load_from``, must fit the model (every tensor
name and shape) unless ``--partial-load`` is given (not with a resume: the optimizer state
fits only its own model); a weights-only file cannot be resumed. A resumed run keeps its
seed and refuses changes to the optimizer and schedule, which the restored state would
undo, changes to the model, and, in an epoch-based run, a checkpoint saved inside an epoch,
which the loop would replay from the epoch's start (:mod:`rga_mm.engine.launch.resume`).
A re-ID classifier (``model.head.num_classes``) with fewer outputs than the training data has
identities stops the run before its first iteration, and so does a model that could not take
its validation images (an attention built for another map size,
:mod:`rga_mm.engine.validation_size`) and a second run in a work dir where one is
training (:mod:`rga_mm.engine.launch.work_dir_lock`). A run started afresh in the
work dir of an earlier run says that it replaces that run's checkpoints of the same names.
"""
import argparse
from collections.abc import Sequence

import torch
from mmengine.config import Config
from mmengine.runner import EpochBasedTrainLoop, Runner

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import (
    CheckpointError,
    check_checkpoint_file,
    check_resumable,
    init_model,
    read_checkpoint,
)
from rga_mm.checks import is_positive_int
from rga_mm.engine import check_validation_size
from rga_mm.engine.launch import (
    add_run_arguments,
    build_checked_runner,
    check_classifier_size,
    check_train_counts,
    check_triplet_batches,
    closing_process_group,
    explain_timeouts,
    launched_as_rank_zero,
    load_run_config,
    parse_run_args,
    prepare_cpu_distributed,
    stop_on_input_errors,
    stop_unless_fits,
)
from rga_mm.engine.launch.resume import (
    adopt_resumed_seed,
    batch_change_notice,
    check_resumed_run_unchanged,
    check_resumes_at_epoch_end,
    earlier_run_notice,
    last_checkpoint,
    outside_run_notice,
    saved_iters_per_epoch,
)
from rga_mm.engine.launch.saved_config import discarded_on_error
from rga_mm.engine.launch.work_dir_lock import exclusive_work_dir
from rga_mm.errors import ConfigError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume', nargs='?', type=str, const='auto', metavar='CKPT',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT '
             '(stops if there is none)')
    resume.add_argument(
        '--resume-or-start', action='store_true',
        help='resume from the latest checkpoint in the work dir, or, if there is none, '
             'start as without the flag (from the config\'s load_from, if any)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the images of a step (processes × '
             'train_dataloader.batch_size) over the config\'s auto_scale_lr.base_batch_size')
    add_run_arguments(parser)
    return parse_run_args(parser, argv)


def latest_checkpoint(cfg: Config, or_start: bool) -> str | None:
    """The checkpoint the work dir's ``last_checkpoint`` names; None, with ``or_start``,
    when there is none."""
    work_dir = cfg.work_dir
    try:
        latest = last_checkpoint(work_dir)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    if latest is None and not or_start:
        raise SystemExit(
            f'--resume found no checkpoint to resume from in {work_dir} (it has no '
            f'last_checkpoint file); check --work-dir, give the checkpoint as --resume CKPT, '
            f'or pass --resume-or-start to start anew when there is none')
    notice = '' if latest is None else outside_run_notice(latest, cfg)
    if notice and launched_as_rank_zero():  # every rank finds the same
        print(notice)
    return latest


def check_amp_has_cuda(cfg: Config, amp_flag: bool) -> None:
    """Stop, before anything is built, a run whose optimizer wrapper is mmengine's
    ``AmpOptimWrapper`` (``amp_flag``: set by ``--amp``; else the config's own, e.g. one
    inherited from an mmseg config) where there is no CUDA device: it refuses the CPU
    once the run has started."""
    wrapper = (cfg.get('optim_wrapper') or {}).get('type')
    name = wrapper if isinstance(wrapper, str) else getattr(wrapper, '__name__', '')
    if torch.cuda.is_available() or name.rpartition('.')[2] != 'AmpOptimWrapper':
        return
    if amp_flag:
        raise SystemExit('--amp needs a CUDA device: mmengine\'s AmpOptimWrapper does not run '
                         'on the CPU')
    raise SystemExit(f'optim_wrapper.type is {name}, which needs a CUDA device (mmengine\'s '
                     f'AmpOptimWrapper does not run on the CPU): pass --cfg-options '
                     f'optim_wrapper.type=OptimWrapper to train on the CPU')


def enable_auto_scale_lr(cfg: Config) -> None:
    """Turn on mmengine's learning-rate scaling (``--auto-scale-lr``), which needs the batch
    the config's learning rate is meant for; stop naming it where the config has none."""
    scaling = cfg.get('auto_scale_lr') or {}
    if not is_positive_int(scaling.get('base_batch_size')):
        raise SystemExit(
            f'--auto-scale-lr needs auto_scale_lr.base_batch_size, the images a step (all '
            f'processes) that the config\'s learning rate is meant for, which {cfg.filename} '
            f'does not set: pass --cfg-options auto_scale_lr.base_batch_size=N')
    cfg.auto_scale_lr = {**scaling, 'enable': True}


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied; ``load_from`` names the checkpoint to
    resume from when there is one. With ``--resume-or-start`` and none yet, the run starts
    as it would without the flag (from the config's ``load_from`` weights, if any)."""
    cfg = load_run_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    check_train_counts(cfg)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    check_amp_has_cuda(cfg, args.amp)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.resume not in (None, 'auto'):
        try:
            check_checkpoint_file(args.resume)
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from None
        cfg.resume = True
        cfg.load_from = args.resume
    elif args.resume == 'auto' or args.resume_or_start:
        latest = latest_checkpoint(cfg, args.resume_or_start)
        cfg.resume = latest is not None
        cfg.load_from = latest or cfg.get('load_from')
    elif cfg.get('resume') and not cfg.get('load_from'):  # auto-resume set in the config
        cfg.load_from = latest_checkpoint(cfg, or_start=False)
    return cfg


def read_start_checkpoint(cfg: Config) -> dict | None:
    """The checkpoint training starts from (``load_from``), refused early if it is no
    checkpoint, or, for resuming, holds weights only."""
    if not cfg.get('load_from'):
        return None
    checkpoint = read_checkpoint(cfg.load_from)
    if cfg.get('resume'):
        check_resumable(checkpoint, cfg.load_from)
    return checkpoint


def prepare_resume(cfg: Config, checkpoint: dict | None, partial_load: bool) -> None:
    """For a resumed run, before the Runner is built: the checkpoint's seed in a config
    without one, and a stop for a partial load, which cannot resume."""
    if not resumes(cfg, checkpoint):
        return
    if partial_load:
        raise SystemExit(
            f'--partial-load cannot resume {cfg.load_from}: resuming restores its optimizer '
            f'state, which fits only the model it was saved from; to start a new run from '
            f'the tensors of it that fit, pass --cfg-options load_from={cfg.load_from} '
            f'--partial-load and do not resume')
    adopt_resumed_seed(cfg, checkpoint)


def resumes(cfg: Config, checkpoint: dict | None) -> bool:
    return checkpoint is not None and bool(cfg.get('resume'))


def check_resume(cfg: Config, checkpoint: dict | None, world_size: int) -> None:
    """For a resumed run whose checkpoint fits the model: a stop for what resuming would
    silently undo, and a notice for steps of another size with ``world_size`` processes
    (:mod:`rga_mm.engine.launch.resume`)."""
    if not resumes(cfg, checkpoint):
        return
    try:
        check_resumed_run_unchanged(cfg, checkpoint, cfg.load_from)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    notice = batch_change_notice(cfg, checkpoint, cfg.load_from, world_size)
    if notice and launched_as_rank_zero():  # every rank finds the same
        print(notice)


def check_resume_point(runner: Runner, cfg: Config, meta: dict | None,
                       run_iters_per_epoch: int | None) -> None:
    """For a resumed run (``meta`` of its checkpoint, None for a run that does not resume)
    with an epoch-based loop: a stop for a checkpoint not saved at the end of an epoch of
    its run (``run_iters_per_epoch``, recorded in the checkpoint; where it is not, the loop's
    data loader's length), whose epoch the loop would replay. Reading ``runner.train_loop``
    builds the loop and its data loader, which ``runner.train()`` reuses."""
    if meta is None or not isinstance(runner.train_loop, EpochBasedTrainLoop):
        return
    iters_per_epoch = run_iters_per_epoch or len(runner.train_loop.dataloader)
    try:
        check_resumes_at_epoch_end(meta, cfg.load_from, iters_per_epoch)
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def nothing_left_to_train(cfg: Config, checkpoint: dict | None) -> str:
    """Why resuming ``checkpoint`` would train nothing (it is at or past the end of the
    schedule), or '' when there is training left."""
    if checkpoint is None or not cfg.get('resume'):
        return ''
    meta, train_cfg = checkpoint.get('meta', {}), cfg.get('train_cfg', {})
    for unit, limit in (('epoch', 'max_epochs'), ('iter', 'max_iters')):
        done, end = meta.get(unit), train_cfg.get(limit)
        if done is not None and end is not None and done >= end:
            return (f'{cfg.load_from} is at {unit} {done} and train_cfg.{limit} is {end}: '
                    f'nothing is left to train; raise train_cfg.{limit} to train on')
    return ''


def check_fits_the_model(cfg: Config, checkpoint: dict, partial_load: bool) -> None:
    """Refuse, as the Runner's build would, a checkpoint at the end of the schedule that
    does not fit the config's model: another model's finished run is no finished run of
    this one."""
    with stop_on_input_errors():
        model = init_model(cfg)
    stop_unless_fits(model, checkpoint, cfg.load_from, partial_load, resuming=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = build_config(args)
    try:
        checkpoint = read_start_checkpoint(cfg)
    except (FileNotFoundError, CheckpointError) as error:
        raise SystemExit(str(error)) from None
    prepare_resume(cfg, checkpoint, args.partial_load)
    finished = nothing_left_to_train(cfg, checkpoint)
    if finished:
        check_fits_the_model(cfg, checkpoint, args.partial_load)
        if launched_as_rank_zero():  # every rank finds the same
            print(finished)
        return
    notice = '' if resumes(cfg, checkpoint) else earlier_run_notice(cfg)
    with closing_process_group():
        prepare_cpu_distributed(cfg)
        with stop_on_input_errors(), exclusive_work_dir(cfg.work_dir, cfg.launcher):
            if notice and launched_as_rank_zero():  # once the work dir is this run's
                print(notice)
            runner = build_checked_runner(cfg, checkpoint, cfg.get('load_from'),
                                          args.partial_load)
            with discarded_on_error(runner):  # a run refused here leaves no run folder
                check_resume(cfg, checkpoint, runner.world_size)
                meta = checkpoint.get('meta', {}) if resumes(cfg, checkpoint) else None
                run_iters_per_epoch = (saved_iters_per_epoch(checkpoint) if meta is not None
                                       else None)
                del checkpoint  # the Runner reads the file again, with its hooks
                with explain_timeouts(cfg):
                    check_classifier_size(runner)  # builds the train loop, reused by train()
                    check_triplet_batches(runner)
                    check_validation_size(runner)  # builds the val loop, reused by train()
                    check_resume_point(runner, cfg, meta, run_iters_per_epoch)
            with explain_timeouts(cfg):
                runner.train()


if __name__ == '__main__':
    main()
