"""Evaluate a checkpoint with an rga_mm config (mmengine's test loop).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out METRICS.json|.pkl]
                         [--show-dir DIR [--show-num N] [--show-order test|worst|best]]
                         [--partial-load]
                         [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm|mpi]

``--out`` writes the metrics (name → number) in the format its suffix names: ``.json`` JSON,
``.pkl`` or ``.pickle`` a pickle (written by mmengine's ``dump``; unlike the file of
mmengine's ``DumpResults`` metric it holds the metrics, not per-sample predictions); another
suffix stops the tool before it evaluates.

``--show-dir`` draws the test (:mod:`rga_mm.engine.launch.show_dir`): for a re-ID config the
ranked lists of ``--show-num`` queries (the first ones of the test set, or by
``--show-order worst`` those of lowest average precision first, ``best`` highest), as the
evaluation ranks them, with a ``ranked_lists.json``; for a segmentation config the
predictions that mmseg's visualization hook draws. The metrics are those of a run without it.

The checkpoint must fit the config's model (every tensor name and shape), or the tool stops
before evaluating: mmengine alone would evaluate random weights for whatever is missing.
``--partial-load`` accepts a checkpoint that fills the model only in part, on purpose.
A ``--cfg-options`` key under ``val_dataloader``, ``val_evaluator`` or ``val_cfg`` stops the
tool unless its ``test_`` counterpart is given too: the test reads only that one.
A checkpoint whose saved config gives other model settings than the config's (another RGA
``mode``, same tensor shapes) is tested as the config says, with a notice naming them.
"""
import argparse
import math
import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmengine.config import Config
from mmengine.fileio import dump

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import CheckpointError, read_checkpoint
from rga_mm.deployment.arguments import positive_int_arg
from rga_mm.engine.launch import (
    add_run_arguments,
    build_checked_runner,
    check_output_dir,
    check_output_file,
    closing_process_group,
    explain_timeouts,
    load_run_config,
    parse_run_args,
    prepare_cpu_distributed,
    stop_on_input_errors,
)
from rga_mm.engine.launch.resume import model_change_notice
from rga_mm.engine.launch.saved_config import discarded_on_error
from rga_mm.engine.launch.show_dir import enable_show_dir, undrawn_notice
from rga_mm.errors import ConfigError
from rga_mm.evaluation.metrics.ranked_lists import DEFAULT_NUM_QUERIES, ORDERS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation log')
    parser.add_argument('--out', help='write the metrics to this file: JSON for .json, a '
                        'pickle for .pkl or .pickle (its missing folders are created)')
    parser.add_argument('--show-dir', help='draw the test into this folder: re-ID ranked '
                        'lists, segmentation predictions')
    parser.add_argument('--show-num', type=positive_int_arg,
                        help='re-ID queries whose ranked lists --show-dir draws (default: '
                        f'{DEFAULT_NUM_QUERIES})')
    parser.add_argument('--show-order', choices=ORDERS,
                        help='which re-ID queries --show-dir draws: the first of the test set '
                        '(test, the default), or those of lowest (worst) or highest (best) '
                        'average precision first')
    add_run_arguments(parser)
    args = parse_run_args(parser, argv)
    for flag, value in (('--show-num', args.show_num), ('--show-order', args.show_order)):
        if value is not None and not args.show_dir:
            parser.error(f'{flag} chooses the ranked lists that --show-dir draws; give '
                         f'--show-dir DIR with it')
    return args


# mmseg's metrics that write predicted label maps (their output_dir: mmseg's --out DIR)
LABEL_MAP_METRICS = ('IoUMetric', 'CityscapesMetric')
# --out suffix → (mmengine file format, its dump options)
OUT_FORMATS = {'.json': ('json', dict(indent=2)), '.pkl': ('pkl', {}),
               '.pickle': ('pkl', {})}


def check_out_suffix(path: str | None, cfg: Config) -> None:
    """Stop, before any work, when the suffix of the ``--out`` file ``path`` names no format
    of :data:`OUT_FORMATS` (a folder is left to ``check_output_file``, which names it); for
    a segmentation ``cfg``, a name without a suffix, as mmseg's ``--out DIR`` of
    predictions, is told mmseg's way."""
    if path is None or osp.isdir(path) or path.endswith(('/', osp.sep)):
        return
    suffix = osp.splitext(path)[1]
    if suffix.lower() not in OUT_FORMATS:
        folder_hint = '' if suffix or not writes_label_maps(cfg) else (
            f" (mmseg's --out DIR, a folder of predicted label maps, is --cfg-options "
            f'test_evaluator.output_dir={path} here)')
        raise SystemExit(f'--out {path}: {f"the suffix {suffix}" if suffix else "no suffix"} '
                         f'names no format tools/test.py writes; end the file name in .json '
                         f'(JSON) or .pkl / .pickle (pickle){folder_hint}')


def writes_label_maps(cfg: Config) -> bool:
    """Whether ``cfg``'s test evaluator is one of mmseg's metrics that write predicted label
    maps to an ``output_dir``."""
    evaluators = cfg.get('test_evaluator') or []
    evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
    types = [evaluator.get('type') for evaluator in evaluators if isinstance(evaluator, dict)]
    return any(isinstance(name, str) and name.rpartition('.')[2] in LABEL_MAP_METRICS
               for name in types)


def check_show_dir(show_dir: str, out: str | None) -> None:
    """Stop, before any work, when ``show_dir`` cannot be made or written, or when the
    ``--out`` file would be written among its pictures."""
    check_output_dir(show_dir, '--show-dir', 'another --show-dir')
    if out and osp.abspath(out).startswith(osp.join(osp.abspath(show_dir), '')):
        raise SystemExit(f'--out {out} is inside --show-dir {show_dir}, where the pictures '
                         f'are written; write it elsewhere')


# the parts of a config that only the validation during training reads
VALIDATION_KEYS = ('val_dataloader', 'val_evaluator', 'val_cfg')


def check_options_reach_the_test(cfg_options: dict | None) -> None:
    """Stop, before any work, at a ``--cfg-options`` key under one of
    :data:`VALIDATION_KEYS` given without its ``test_`` counterpart: this tool runs the test
    loop, which reads ``test_dataloader``, ``test_evaluator`` and ``test_cfg`` (a config's
    ``test_evaluator = val_evaluator`` copies the value when the file is read), so the key
    alone would change nothing, silently. Given with it (the same options for every loader,
    as for tools/train.py), it is left to the validation it names."""
    options = cfg_options or {}
    for key in options:
        top, dot, rest = key.partition('.')
        instead = f'test{top[3:]}{dot}{rest}'
        if top in VALIDATION_KEYS and instead not in options:
            raise SystemExit(f'--cfg-options {key}: tools/test.py evaluates with '
                             f'test_dataloader, test_evaluator and test_cfg, which the config '
                             f'fixed when it was read, so {top} changes nothing here; set '
                             f'{instead} instead')


def write_metrics(metrics: dict, path: str) -> None:
    """Write ``metrics`` (name → number) to ``path``, counts (integers, such as
    ``reid/num_query``) as ints and the rest as floats, in the format its suffix names
    (:data:`OUT_FORMATS`). JSON has no NaN (mmseg's IoU of a class no test pixel has): it is
    written as ``null``, which every JSON parser reads, not as Python's ``NaN``, which
    strict ones refuse."""
    file_format, options = OUT_FORMATS[osp.splitext(path)[1].lower()]
    values = {name: int(value) if isinstance(value, (int, np.integer)) else float(value)
              for name, value in metrics.items()}
    if file_format == 'json':
        values = {name: None if math.isnan(value) else value for name, value in values.items()}
    dump(values, path, file_format=file_format, **options)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    check_options_reach_the_test(args.cfg_options)
    cfg = load_run_config(args.config, args.launcher, args.cfg_options, args.work_dir,
                          loaders=('test_dataloader',))
    check_out_suffix(args.out, cfg)
    check_output_file(args.out)
    shown = None
    if args.show_dir:
        check_show_dir(args.show_dir, args.out)
        try:
            shown = enable_show_dir(cfg, args.show_dir, args.show_num, args.show_order)
        except ConfigError as error:
            raise SystemExit(str(error)) from None
    try:
        checkpoint = read_checkpoint(args.checkpoint)
    except (FileNotFoundError, CheckpointError) as error:
        raise SystemExit(str(error)) from None
    cfg.load_from = args.checkpoint
    with closing_process_group():
        prepare_cpu_distributed(cfg, 'tools/dist_test.sh')
        runner = build_checked_runner(cfg, checkpoint, args.checkpoint, args.partial_load,
                                      testing=True)
        notice = model_change_notice(cfg, checkpoint, args.checkpoint)
        if notice and runner.rank == 0:
            print(notice)
        if shown and runner.rank == 0:
            print(f'--show-dir draws {shown}')
        del checkpoint  # the Runner reads the file again, with its hooks
        with explain_timeouts(cfg), stop_on_input_errors():
            with discarded_on_error(runner):  # a test refused here leaves no run folder
                # every process builds its test loop (loader, evaluator) here, where
                # runner.test() would, so that a dataset or metric refusal comes first
                runner.test_loop  # noqa: B018 (the property builds it)
                undrawn = undrawn_notice(runner) if shown else None
            if undrawn and runner.rank == 0:
                print(undrawn)
            metrics = runner.test()
        if args.out and runner.rank == 0:
            write_metrics(metrics, args.out)


if __name__ == '__main__':
    main()
