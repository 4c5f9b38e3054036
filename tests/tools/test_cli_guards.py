"""Command-line options that used to be ignored or to fail late: a mistyped top-level or
nested ``--cfg-options`` key, one inside a config file's helper variable, an ``--out`` file
that cannot be written (its missing folders are created) or whose suffix names no format
tools/test.py writes, a ``--cfg-options`` value mmengine cannot split, a ``--work-dir`` that
is a file, ``num_workers=0`` beside ``persistent_workers``, the ``load_from`` weights of a
``--resume-or-start`` run that has nothing to resume yet, a resume with nothing left to
train, a malformed dataset met inside the Runner, and a re-ID classifier with fewer outputs
than the training data has identities, an input error raised in a DataLoader worker, a work
dir that cannot be created or written, a train_cfg count below 1, identity batches too small
for the triplet loss, and a dist script without a GPU count or on a port in use."""
import errno
import json
import logging
import math
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader, Dataset

from rga_mm.apis import init_model
from rga_mm.datasets import DatasetError, IdentityBatchSampler, Market1501
from rga_mm.engine.hooks import CheckpointWriteError
from rga_mm.engine.launch import (
    check_classifier_size,
    check_output_file,
    check_spares_inputs,
    check_train_counts,
    check_triplet_batches,
    launched_as_rank_zero,
    load_config_with_options,
    load_run_config,
    stop_on_input_errors,
)
from rga_mm.engine.launch.run_config import resume_hint
from rga_mm.engine.launch.work_dir_lock import exclusive_work_dir
from rga_mm.errors import ConfigError
from rga_mm.models.reid import BNNeckHead
from rga_mm.testing import load_script

CONFIG = """
default_scope = 'rga_mm'
randomness = dict(seed=16)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
model = dict(type='StageAttentionBackbone',
             backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )),
             attentions=dict())
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / 'tiny.py'
    path.write_text(CONFIG)
    return str(path)


def test_a_mistyped_top_level_key_names_the_closest_one(config_file):
    with pytest.raises(SystemExit, match=r"--cfg-options randomnes.seed: the config \S+tiny.py "
                                         r"has no top-level key 'randomnes'.*did you mean "
                                         r"'randomness'\?"):
        load_run_config(config_file, 'none', {'randomnes.seed': 5}, None)
    with pytest.raises(ValueError, match=r"no top-level key 'modle'.*did you mean 'model'\?"):
        init_model(config_file, cfg_options={'modle.backbone.depth': 34})


def test_a_log_of_json_lines_given_as_config_is_named(tmp_path):
    """mmengine's scalars.json holds one JSON object a line; json reads it as 'Extra data'."""
    log = tmp_path / 'scalars.json'
    log.write_text('{"loss": 3.2, "step": 1}\n{"loss": 3.1, "step": 2}\n')
    with pytest.raises(SystemExit) as refused:
        load_run_config(str(log), 'none', None, None)
    assert str(refused.value) == (
        f'config {log} is not one JSON object, as a .json config is (Extra data: line 2 '
        f'column 1 (char 25)); a log such as scalars.json, one object a line, is no config: '
        f"give the run's .py config")


def test_new_nested_keys_and_keys_the_runner_reads_are_accepted(config_file):
    cfg = load_run_config(config_file, 'none', {
        'randomness.seed': 5,
        'default_hooks.checkpoint.save_best': 'auto',  # a new option of an existing dict
        'find_unused_parameters': True,  # read by mmengine's Runner, in no config of ours
        'work_dir': 'elsewhere'}, None)
    assert cfg.randomness.seed == 5 and cfg.default_hooks.checkpoint.save_best == 'auto'
    assert cfg.find_unused_parameters is True and cfg.work_dir == 'elsewhere'
    assert isinstance(cfg, Config)


def test_out_must_be_a_writable_file_and_its_missing_folders_are_created(tmp_path):
    check_output_file(None)
    check_output_file(str(tmp_path / 'metrics.json'))
    check_output_file(str(tmp_path / 'missing' / 'deeper' / 'metrics.json'))
    assert (tmp_path / 'missing' / 'deeper').is_dir()  # as mmengine's dump does
    assert not (tmp_path / 'missing' / 'deeper' / 'metrics.json').exists()
    with pytest.raises(SystemExit, match=r'is a folder; give a file name in it'):
        check_output_file(str(tmp_path))
    new_folder = f'{tmp_path / "results"}/'  # abspath would drop the slash
    with pytest.raises(SystemExit, match=r'results/ ends in a separator, so names a folder; '
                                         r'give a file name in it, e.g. \S+results/metrics.json'):
        check_output_file(new_folder)
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    for below in (a_file / 'metrics.json', a_file / 'sub' / 'metrics.json'):
        with pytest.raises(SystemExit, match=rf'^--out {below}: {a_file} is a file, not a '
                                             r'folder; choose another path$'):
            check_output_file(str(below))
    assert a_file.read_text() == ''


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write into any folder')
def test_out_in_a_folder_that_cannot_be_created_is_refused(tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(SystemExit, match=rf'^--out \S+: the folder {locked / "new"} '
                                             r'cannot be created \(no write permission\)'):
            check_output_file(str(locked / 'new' / 'metrics.json'))
    finally:
        locked.chmod(0o700)


def test_an_output_that_is_an_input_file_is_refused_also_through_links(tmp_path):
    """The same path, a symbolic link to it and a hard link of it are the same file."""
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'weights')
    (tmp_path / 'symbolic.pth').symlink_to(checkpoint)
    os.link(checkpoint, tmp_path / 'hard.pth')
    other = tmp_path / 'other.pth'
    other.write_bytes(b'weights')
    inputs = [str(tmp_path / 'config.py'), str(checkpoint)]  # a missing input is no file
    check_spares_inputs([str(other), str(tmp_path / 'new.onnx'), str(tmp_path)], inputs)
    for name, link in (('model.pth', ''), ('symbolic.pth', ' (the same file)'),
                       ('hard.pth', ' (the same file)')):
        message = (f'--shape-out: the output {tmp_path / name} would overwrite the input '
                   f'{checkpoint}{link}; choose another path')
        with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
            check_spares_inputs([str(other), str(tmp_path / name)], inputs, '--shape-out')
    assert checkpoint.read_bytes() == b'weights'


def test_a_resume_that_does_not_fit_offers_what_works_instead_of_a_partial_load(tmp_path):
    """A partial load cannot resume (the optimizer state fits only its own model)."""
    from torch import nn

    from rga_mm.apis.checkpoints import PARTIAL_HINT
    from rga_mm.engine.launch.run_config import stop_unless_fits
    checkpoint = {'state_dict': {'weight': torch.zeros(4, 2), 'bias': torch.zeros(4)}}
    path = str(tmp_path / 'epoch_2.pth')
    with pytest.raises(SystemExit) as loading:
        stop_unless_fits(nn.Linear(2, 3), checkpoint, path, partial_load=False)
    assert str(loading.value).endswith(PARTIAL_HINT)
    with pytest.raises(SystemExit) as resuming:
        stop_unless_fits(nn.Linear(2, 3), checkpoint, path, partial_load=False, resuming=True)
    assert str(resuming.value) == str(loading.value).replace(PARTIAL_HINT, (
        f'to resume it, undo the config changes made since its run; to start a new run from '
        f'the tensors of it that fit, pass --cfg-options load_from={path} --partial-load and '
        f'do not resume'))


def test_an_out_suffix_that_names_no_format_stops_test_before_anything_is_read(config_file,
                                                                               tmp_path):
    test = load_script(Path(__file__).parents[2] / 'tools/test.py', 'test_tool')
    missing = tmp_path / 'missing.pth'  # never read: the suffix is checked first
    for name, said in (('metrics.txt', 'the suffix .txt'), ('metrics', 'no suffix')):
        out = tmp_path / 'new' / name  # no mmseg hint: the config has no segmentation metric
        with pytest.raises(SystemExit, match=rf'^--out {out}: {said} names no format '
                                             r'tools/test.py writes; end the file name in '
                                             r'\.json \(JSON\) or \.pkl / \.pickle '
                                             r'\(pickle\)$'):
            test.main([config_file, str(missing), '--out', str(out)])
    assert not (tmp_path / 'new').exists()  # nothing made for a file that is refused
    for name in ('metrics.json', 'results.PKL', 'results.pickle'):
        with pytest.raises(SystemExit, match=rf'{missing}'):  # on to the checkpoint
            test.main([config_file, str(missing), '--out', str(tmp_path / name)])


def test_a_nan_metric_is_written_as_json_null_and_kept_in_a_pickle(tmp_path):
    """mmseg's IoU of a class no test pixel has is NaN; Python's json would write the bare
    ``NaN``, which strict JSON parsers refuse. Counts stay integers (they were written as
    9.0)."""
    test = load_script(Path(__file__).parents[2] / 'tools/test.py', 'test_tool')
    metrics = {'aAcc': np.float32(50.5), 'mIoU': float('nan'), 'reid/num_query': 9,
               'reid/num_gallery': np.int64(28)}
    test.write_metrics(metrics, str(tmp_path / 'metrics.json'))
    text = (tmp_path / 'metrics.json').read_text()
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f'{name} in {text}')) == {
        'aAcc': 50.5, 'mIoU': None, 'reid/num_query': 9, 'reid/num_gallery': 28}
    assert '"reid/num_query": 9,' in text and '"reid/num_gallery": 28' in text
    test.write_metrics(metrics, str(tmp_path / 'metrics.pkl'))
    with open(tmp_path / 'metrics.pkl', 'rb') as file:
        kept = pickle.load(file)
    assert kept['aAcc'] == 50.5 and math.isnan(kept['mIoU'])


def test_options_of_the_validation_stop_test_naming_their_test_counterpart(config_file,
                                                                          tmp_path):
    """tools/test.py runs the test loop: a validation key alone would change nothing (given
    with its test counterpart, as the same options for every loader, it is left alone)."""
    test = load_script(Path(__file__).parents[2] / 'tools/test.py', 'test_tool')
    missing = tmp_path / 'missing.pth'  # never read: the options are checked first
    for key, instead in (('val_evaluator.rerank', 'test_evaluator.rerank'),
                         ('val_dataloader.batch_size', 'test_dataloader.batch_size'),
                         ('val_cfg', 'test_cfg')):
        with pytest.raises(SystemExit, match=rf'^--cfg-options {key}: tools/test.py evaluates '
                                             rf'.* so {key.split(".")[0]} changes nothing '
                                             rf'here; set {instead} instead$'):
            test.main([config_file, str(missing), '--cfg-options', f'{key}=1'])
    for options in (['test_evaluator.rerank=True'],  # on to the checkpoint
                    ['val_evaluator.rerank=True', 'test_evaluator.rerank=True']):
        with pytest.raises(SystemExit, match=rf'{missing}'):
            test.main([config_file, str(missing), '--cfg-options', *options])


def _train_tool():
    path = Path(__file__).parents[2] / 'tools/train.py'
    return load_script(path, 'train_tool')


def test_resume_or_start_starts_from_load_from_until_there_is_a_checkpoint(config_file,
                                                                           tmp_path):
    train = _train_tool()
    work_dir, weights = tmp_path / 'work', tmp_path / 'weights.pth'
    work_dir.mkdir()
    argv = [config_file, '--work-dir', str(work_dir), '--cfg-options', f'load_from={weights}']

    first = train.build_config(train.parse_args(argv + ['--resume-or-start']))
    assert (first.resume, first.load_from) == (False, str(weights))
    with pytest.raises(SystemExit, match='--resume found no checkpoint'):
        train.build_config(train.parse_args(argv + ['--resume']))

    latest = work_dir / 'epoch_3.pth'
    latest.write_bytes(b'')
    (work_dir / 'last_checkpoint').write_text(str(latest))
    for flag in ('--resume-or-start', '--resume'):
        again = train.build_config(train.parse_args(argv + [flag]))
        assert (again.resume, again.load_from) == (True, str(latest))


@pytest.mark.parametrize('content, said', [
    (b'\x80\x03binary', 'is no text file naming a checkpoint (it holds binary data)'),
    (b' \n', 'is empty: it names no checkpoint'),
    (None, 'names {folder}, which is a folder, not a checkpoint'),
    (b'/no/such/epoch_3.pth', 'names /no/such/epoch_3.pth, which does not exist')])
def test_a_last_checkpoint_that_names_nothing_usable_is_named(config_file, tmp_path, content,
                                                              said):
    """mmengine's find_latest_checkpoint raises UnicodeDecodeError on the first and returns
    '' for the second."""
    train = _train_tool()
    work_dir = tmp_path / 'work'
    folder = work_dir / 'epoch_3'
    folder.mkdir(parents=True)
    record = work_dir / 'last_checkpoint'
    record.write_bytes(str(folder).encode() if content is None else content)
    with pytest.raises(SystemExit, match=re.escape(
            f'{record} {said.format(folder=folder)}; give the checkpoint to resume from as '
            f'--resume CKPT')):
        train.build_config(train.parse_args([config_file, '--work-dir', str(work_dir),
                                             '--resume']))


def test_a_checkpoint_outside_the_work_dir_or_a_folder_as_checkpoint_is_named(
        config_file, tmp_path, capsys):
    """A copied work dir's last_checkpoint still names the original run's files."""
    train = _train_tool()
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    original.mkdir()
    copy.mkdir()
    checkpoint = original / 'epoch_3.pth'
    checkpoint.write_bytes(b'')
    (copy / 'last_checkpoint').write_text(str(checkpoint))
    cfg = train.build_config(train.parse_args([config_file, '--work-dir', str(copy),
                                               '--resume']))
    assert cfg.load_from == str(checkpoint)
    assert capsys.readouterr().out.strip() == (
        f'resuming from {checkpoint}, which {copy / "last_checkpoint"} names outside {copy}, '
        f'where this run saves its checkpoints (copied from another run?); give --resume '
        f'CKPT to resume from another checkpoint')
    with pytest.raises(SystemExit, match=re.escape(
            f'checkpoint {original} is a folder; give a checkpoint file (.pth) in it') + '$'):
        train.build_config(train.parse_args([config_file, '--resume', str(original)]))


HOLD_THE_LOCK = """
import sys, time
from rga_mm.engine.launch.run_config import resume_hint
from rga_mm.engine.launch.work_dir_lock import exclusive_work_dir
with exclusive_work_dir(sys.argv[1]):
    print('held', flush=True)
    time.sleep(600)
"""


def test_a_second_run_in_a_work_dir_where_one_trains_is_refused(config_file, tmp_path,
                                                                 capsys):
    """The holder is a real process; once it is killed (SIGKILL) the work dir is free. The
    refused run says nothing about replacing the running one's checkpoints."""
    train = _train_tool()
    work_dir = tmp_path / 'work'
    holder = subprocess.Popen([sys.executable, '-c', HOLD_THE_LOCK, str(work_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
        with pytest.raises(SystemExit, match=re.escape(
                f'another training run (process {holder.pid}) is writing to the work dir '
                f'{work_dir}: two runs there would write the same checkpoints and logs')):
            train.main([config_file, '--work-dir', str(work_dir)])
    finally:
        holder.kill()
        holder.wait()
    assert 'starts anew' not in capsys.readouterr().out
    (work_dir / 'last_checkpoint').unlink()
    assert sorted(path.name for path in work_dir.iterdir()) == ['.train.lock']  # no Runner
    with exclusive_work_dir(str(work_dir)):
        assert (work_dir / '.train.lock').read_text() == f'{os.getpid()}\n'


@pytest.mark.parametrize('launcher, variable', [('pytorch', 'RANK'), ('slurm', 'SLURM_PROCID'),
                                                ('mpi', 'OMPI_COMM_WORLD_RANK')])
def test_only_rank_0_of_a_distributed_run_locks_its_work_dir(tmp_path, monkeypatch, launcher,
                                                             variable):
    """Each launcher names the global rank in its own variable before mmengine's init_dist
    sets RANK: the other ranks of the run share the lock of rank 0."""
    work_dir = str(tmp_path / 'work')
    with exclusive_work_dir(work_dir, launcher):  # rank 0 holds it (no variable: rank 0)
        monkeypatch.setenv(variable, '1')
        with exclusive_work_dir(work_dir, launcher):
            pass
        monkeypatch.setenv(variable, '0')
        with pytest.raises(ConfigError, match='another training run'):
            with exclusive_work_dir(work_dir, launcher):
                pass


@pytest.mark.parametrize('variable', ['RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'])
def test_each_launchers_rank_variable_says_who_prints_once(monkeypatch, variable):
    """Before mmengine's init_dist sets RANK for a Slurm or MPI launch, only the launcher's
    own variable tells rank 0, which prints the notices every rank finds alike."""
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        monkeypatch.delenv(name, raising=False)
    assert launched_as_rank_zero()
    monkeypatch.setenv(variable, '0')
    assert launched_as_rank_zero()
    monkeypatch.setenv(variable, '3')
    assert not launched_as_rank_zero()


@pytest.mark.skipif(torch.cuda.is_available(), reason='mmengine launches CUDA runs itself')
def test_a_cpu_run_launched_other_than_by_torchrun_names_the_script(config_file, tmp_path,
                                                                     monkeypatch):
    """tools/test.py names dist_test.sh, tools/train.py dist_train.sh; no traceback."""
    for variable in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(variable, raising=False)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': init_model(config_file).state_dict()}, checkpoint)
    test = load_script(Path(__file__).parents[2] / 'tools/test.py', 'test_tool')
    with pytest.raises(SystemExit) as stop:
        test.main([config_file, str(checkpoint), '--launcher', 'pytorch', '--work-dir',
                   str(tmp_path / 'test')])
    assert str(stop.value) == ("--launcher pytorch expects torchrun's environment, but RANK, "
                               "WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not set: start the "
                               "run with tools/dist_test.sh")
    with pytest.raises(SystemExit) as stop:
        _train_tool().main([config_file, '--launcher', 'slurm', '--work-dir',
                            str(tmp_path / 'train')])
    assert str(stop.value) == ('--launcher slurm: without CUDA, distributed runs take the '
                               'pytorch launcher (torchrun) alone; start them with '
                               'tools/dist_train.sh')


@pytest.mark.skipif(torch.cuda.is_available(), reason='AMP runs on CUDA')
@pytest.mark.parametrize('options, message', [
    (['--amp'], "--amp needs a CUDA device: mmengine's AmpOptimWrapper does not run on the CPU"),
    (['--cfg-options', 'optim_wrapper.type=mmengine.AmpOptimWrapper'],
     "optim_wrapper.type is mmengine.AmpOptimWrapper, which needs a CUDA device (mmengine's "
     "AmpOptimWrapper does not run on the CPU): pass --cfg-options "
     "optim_wrapper.type=OptimWrapper to train on the CPU")])
def test_amp_without_cuda_stops_before_the_run(tmp_path, options, message):
    """Set by --amp or by the config (as an inherited mmseg config may): one sentence and
    no run folder, where mmengine's wrapper failed an assertion once the run had started."""
    path = tmp_path / 'optimized.py'
    path.write_text(CONFIG + "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n")
    with pytest.raises(SystemExit) as stop:
        _train_tool().main([str(path), '--work-dir', str(tmp_path / 'work'), *options])
    assert str(stop.value) == message
    assert not (tmp_path / 'work').exists()


def test_a_misspelt_nested_key_names_the_existing_one(config_file):
    for key, parent, name, existing in (
            ('default_hooks.checkpoint.intervl', 'default_hooks.checkpoint', 'intervl',
             'interval'),
            ('model.backbone.dept', 'model.backbone', 'dept', 'depth'),
            ('model.backbone.out_indice', 'model.backbone', 'out_indice', 'out_indices'),
            ('model.backbne.depth', 'model', 'backbne', 'backbone'),  # a typo mid-key
            ('default_hooks.chekpoint.interval', 'default_hooks', 'chekpoint', 'checkpoint')):
        with pytest.raises(SystemExit, match=rf"--cfg-options {key}: {parent} in the config "
                                             rf"\S+tiny.py has no key '{name}'; did you mean "
                                             rf"'{existing}'\?"):
            load_run_config(config_file, 'none', {key: 1}, None)
    # new entries: no existing key this close, or one that differs in digits only
    cfg = load_run_config(config_file, 'none', {'model.backbone.frozen_stages': 1,
                                                'default_hooks.checkpoint2.interval': 1,
                                                'randomness.deterministic': True}, None)
    assert cfg.model.backbone.frozen_stages == 1 and cfg.default_hooks.checkpoint2.interval == 1


def test_a_work_dir_that_is_a_file_stops_before_the_runner(config_file, tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('kept')
    for work_dir in (a_file, a_file / 'run'):
        with pytest.raises(SystemExit, match=rf'work dir \S+: {a_file} is a file, not a '
                                             rf'folder; choose another --work-dir'):
            load_run_config(config_file, 'none', None, str(work_dir))
    assert a_file.read_text() == 'kept'


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write into any folder')
def test_a_work_dir_without_write_permission_stops_before_the_runner(config_file, tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    try:
        for work_dir, what in ((locked / 'run', f'cannot be created in {locked}'),
                               (locked, 'cannot be written')):
            message = (f'work dir {work_dir} {what} (no write permission); choose another '
                       f'--work-dir')
            with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
                load_run_config(config_file, 'none', None, str(work_dir))
    finally:
        locked.chmod(0o700)


def test_a_work_dir_on_a_read_only_file_system_stops_before_the_runner(config_file, tmp_path,
                                                                      monkeypatch):
    """The check makes (and removes) a folder, which a read-only file system refuses even
    to root; a writable work dir is left as it was, a missing one is not created."""
    work_dir = tmp_path / 'new' / 'run'
    assert load_run_config(config_file, 'none', None, str(work_dir)).work_dir == str(work_dir)
    assert list(tmp_path.iterdir()) == [tmp_path / 'tiny.py']

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    # the check's own tempfile alone: mmengine reads the config through tempfile too
    monkeypatch.setattr('rga_mm.engine.launch.run_config.tempfile',
                        SimpleNamespace(mkdtemp=read_only))
    message = (f'work dir {work_dir} cannot be created in {tmp_path} (Read-only file system); '
               f'choose another --work-dir')
    with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
        load_run_config(config_file, 'none', None, str(work_dir))


VALIDATION = """
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_dataloader = dict(batch_size=2, dataset=dict(type='Market1501', data_root='x'))
val_cfg = dict()
val_evaluator = dict(type='ReIDMetric')
"""


def test_train_cfg_counts_below_one_stop_training_before_the_runner(tmp_path):
    """A val_interval of 0 used to train a whole epoch and then divide by zero; testing,
    which builds no training loop, reads none of these counts."""
    path = tmp_path / 'validating.py'
    path.write_text(CONFIG + VALIDATION)

    def load(options: dict) -> Config:
        return load_run_config(str(path), 'none', options, None)

    message = ('train_cfg.val_interval is 0, but it is the number of epochs between '
               'validations: set train_cfg.val_interval to a positive number (validation also '
               'runs after the last one), or, to never validate, set val_dataloader, val_cfg '
               'and val_evaluator to None')
    with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
        check_train_counts(load({'train_cfg.val_interval': 0}))
    without_validation = dict.fromkeys(('val_dataloader', 'val_cfg', 'val_evaluator'))
    check_train_counts(load({'train_cfg.val_interval': 0, **without_validation}))
    with pytest.raises(SystemExit, match=r'^train_cfg\.max_epochs is -1, so nothing would be '
                                         r'trained: set train_cfg\.max_epochs to a positive '
                                         r'number of epochs$'):
        check_train_counts(load({'train_cfg.max_epochs': -1}))
    with pytest.raises(SystemExit, match=r'^train_cfg\.max_iters is 0, so nothing would be '
                                         r'trained: set train_cfg\.max_iters to a positive '
                                         r'number of iterations$'):
        check_train_counts(Config(dict(train_cfg=dict(by_epoch=False, max_iters=0))))
    check_train_counts(Config(dict(train_cfg=None)))
    assert load({'train_cfg.val_interval': 0}).train_cfg.val_interval == 0  # tools/test.py


@pytest.mark.parametrize('train_cfg, option, loop, own, unit', [
    (dict(by_epoch=True, max_epochs=300), 'max_iters', 'EpochBasedTrainLoop', 'max_epochs=300',
     'epochs'),
    (dict(type='mmengine.IterBasedTrainLoop', max_iters=64), 'max_epochs',
     'IterBasedTrainLoop', 'max_iters=64', 'iterations')])
def test_the_count_of_the_other_training_loop_is_refused(tmp_path, train_cfg, option, loop,
                                                         own, unit):
    """A habit carried from a config trained by iterations to one trained by epochs (the
    CIFAR ResNets and DenseNets differ so) used to end in the loop's TypeError."""
    path = tmp_path / 'loop.py'
    path.write_text(f'train_cfg = {train_cfg!r}\n')
    cfg = load_run_config(str(path), 'none', {f'train_cfg.{option}': 2}, None)
    with pytest.raises(SystemExit) as stop:
        check_train_counts(cfg)
    assert str(stop.value) == (f'train_cfg.{option} is set, but this config trains by {unit} '
                               f'({loop}, train_cfg.{own}), which takes no {option}: set '
                               f'train_cfg.{own.partition("=")[0]} instead')
    check_train_counts(load_run_config(str(path), 'none', {}, None))


def test_no_workers_means_no_persistent_workers(tmp_path):
    path = tmp_path / 'loaders.py'
    path.write_text(CONFIG + 'train_dataloader = dict(num_workers=2, persistent_workers=True)\n'
                    'val_dataloader = dict(num_workers=2, persistent_workers=True)\n')
    cfg = load_run_config(str(path), 'none', {'train_dataloader.num_workers': 0}, None)
    assert cfg.train_dataloader.persistent_workers is False  # DataLoader refuses the pair
    assert cfg.val_dataloader.persistent_workers is True


def test_resuming_a_finished_run_says_so_and_builds_nothing(config_file, tmp_path, capsys):
    train = _train_tool()
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    finished = work_dir / 'epoch_8.pth'
    torch.save(dict(meta=dict(epoch=8, iter=16), message_hub={},
                    state_dict=init_model(config_file).state_dict()), finished)
    argv = [config_file, '--work-dir', str(work_dir), '--resume', str(finished)]
    train.main(argv + ['--cfg-options', 'train_cfg.max_epochs=4'])
    assert capsys.readouterr().out.strip() == (
        f'{finished} is at epoch 8 and train_cfg.max_epochs is 4: nothing is left to train; '
        f'raise train_cfg.max_epochs to train on')
    assert sorted(p.name for p in work_dir.iterdir()) == ['epoch_8.pth']  # no run started
    with pytest.MonkeyPatch.context() as patch:  # rank 1 of a distributed run says nothing
        patch.setenv('RANK', '1')
        train.main(argv + ['--cfg-options', 'train_cfg.max_epochs=4'])
    assert capsys.readouterr().out == ''
    config = train.build_config(train.parse_args(argv + ['--cfg-options',
                                                         'train_cfg.max_epochs=9']))
    assert train.nothing_left_to_train(config, torch.load(finished, weights_only=True)) == ''


def test_another_models_finished_run_is_refused_not_called_finished(config_file, tmp_path,
                                                                     capsys):
    train = _train_tool()
    foreign = tmp_path / 'epoch_8.pth'
    torch.save(dict(meta=dict(epoch=8, iter=16), message_hub={},
                    state_dict=dict(weight=torch.zeros(1))), foreign)
    with pytest.raises(SystemExit, match=rf'^checkpoint {re.escape(str(foreign))} does not '
                                         rf"fit the model built from the config: it misses "
                                         rf"100 of the model's 100 keys") as stop:
        train.main([config_file, '--work-dir', str(tmp_path / 'work'), '--resume',
                    str(foreign), '--cfg-options', 'train_cfg.max_epochs=4'])
    assert 'nothing is left to train' not in capsys.readouterr().out
    # resuming refuses --partial-load, so the sentence offers what works instead
    assert str(stop.value).endswith(resume_hint(str(foreign)))


def test_a_malformed_dataset_or_a_full_disk_stops_with_its_sentence_alone():
    with pytest.raises(SystemExit, match=r'^MyData: person_id .abc. on line 8 is no integer$'):
        with stop_on_input_errors():
            raise DatasetError("MyData: person_id 'abc' on line 8 is no integer")
    with pytest.raises(SystemExit, match=r'^Could not write the checkpoint w/epoch_2.pth: No '
                                         r'space left on device\.$'):
        with stop_on_input_errors():
            raise CheckpointWriteError('Could not write the checkpoint w/epoch_2.pth: No space '
                                       'left on device.')
    with pytest.raises(ValueError, match='a bug'):  # any other error keeps its traceback
        with stop_on_input_errors():
            raise ValueError('a bug')


class _RaisesInWorker(Dataset):
    """Items that raise ``error`` (in the DataLoader worker that reads them)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise self.error


@pytest.mark.parametrize('error', [
    DatasetError('label map a.png holds values 23, 26: run the converter'),
    FileNotFoundError('data/market/query not found'),
])
def test_an_input_error_in_a_dataloader_worker_stops_with_its_sentence_alone(error):
    """PyTorch re-raises a worker's error with the worker's traceback as its message."""
    with pytest.raises(SystemExit) as stop:
        with stop_on_input_errors():
            next(iter(DataLoader(_RaisesInWorker(error), num_workers=1)))
    assert str(stop.value) == str(error)


@pytest.mark.parametrize('value', ['c(?P<camera>[0-9]{1,3})', '(a,b'])
def test_a_cfg_option_mmengine_cannot_split_is_an_argparse_error_naming_it(value, capsys):
    """mmengine's DictAction recurses without end on the first and fails an assertion on the
    second; the tools say which pair and where such a value belongs."""
    with pytest.raises(SystemExit) as stop:
        _train_tool().parse_args(['x.py', '--cfg-options', 'train_cfg.max_epochs=4',
                                  f'train_dataloader.dataset.camera_pattern={value}'])
    assert stop.value.code == 2
    assert (f"argument --cfg-options: cannot read 'train_dataloader.dataset.camera_pattern="
            f"{value}': --cfg-options reads commas and brackets as lists and tuples and drops "
            f'spaces; set a value like this in a config file that inherits this one') in (
                capsys.readouterr().err.replace('\n', ' '))
    options = _train_tool().parse_args(['x.py', '--cfg-options', 'a=1,2', 'b=(3, 4)'])
    assert options.cfg_options == {'a': [1, 2], 'b': (3, 4)}  # DictAction's reading kept
    with pytest.raises(SystemExit):
        _train_tool().parse_args(['x.py', '--cfg-options', 'max_epochs'])
    assert "argument --cfg-options: 'max_epochs' is not KEY=VALUE" in capsys.readouterr().err


def test_a_plain_cfg_option_keeps_its_spaces_and_is_typed_as_mmengine_types_it():
    """A folder with a space in its name stays that folder (DictAction drops every space);
    lists, tuples and scalars read as DictAction reads them."""
    options = _train_tool().parse_args([
        'x.py', '--cfg-options', 'train_dataloader.dataset.data_root=/data/my data ü',
        "work_dir='/runs/run 1'", 'a=[1, 2]', 'b=0.5', 'c=None', 'd=true ', 'e= 3',
        'f=/data/(old) reid', 'g=c(?P<camera>\\d+)']).cfg_options
    assert options == {'train_dataloader.dataset.data_root': '/data/my data ü',
                       'work_dir': '/runs/run 1', 'a': [1, 2], 'b': 0.5, 'c': None, 'd': True,
                       'e': 3, 'f': '/data/(old) reid', 'g': 'c(?P<camera>\\d+)'}


@pytest.mark.parametrize('tool', ['test.py', 'search.py', 'visualization/vis_attention.py',
                                  'misc/check_dataset.py', 'deployment/pytorch2onnx.py',
                                  'analysis_tools/get_flops.py'])
def test_every_tool_reads_cfg_options_the_same_way(tool, capsys):
    argv = ['--cfg-options', 'model.neck.pattern=c(?P<camera>[0-9]{1,3})']
    module = load_script(Path(__file__).parents[2] / 'tools' / tool, Path(tool).stem)
    with pytest.raises(SystemExit) as stop:
        getattr(module, 'parse_args', module.main)(argv)  # get_flops has main(argv) alone
    assert stop.value.code == 2
    assert "--cfg-options: cannot read 'model.neck.pattern=" in capsys.readouterr().err


HELPERS = """
input_size = (64, 32)
data_root = 'data/somewhere'
train_pipeline = [dict(type='Resize', scale=input_size[::-1]), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(type='Market1501', data_root=data_root,
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='Market1501', data_root=data_root, split='test'))
reid_meta = dict(flag=True)
"""


@pytest.fixture
def helpers_file(tmp_path):
    path = tmp_path / 'helpers.py'
    path.write_text(CONFIG + HELPERS)
    return str(path)


@pytest.mark.parametrize('key, instead', [
    ('data_root', 'set train_dataloader.dataset.data_root and val_dataloader.dataset.data_root '
                  'instead'),
    ('input_size', 'write a config that inherits this one and restates the sizes derived from '
                   'input_size (docs/reid.md, "Another input size")'),
    ('train_pipeline.0.scale', 'set train_dataloader.dataset.pipeline.0.scale instead'),
    ('reid_meta.flag', 'write a config that inherits this one (_base_) and sets, besides '
                       'reid_meta, the entries derived from it')])
def test_a_config_files_helper_variable_is_refused(helpers_file, key, instead):
    """Read only while the file was evaluated (the dataloaders, the pipelines hold its value):
    a new value would change nothing, so the key is refused, naming what to set instead."""
    top = key.split('.')[0]
    with pytest.raises(SystemExit, match='^' + re.escape(
            f'--cfg-options {key}: {top} is a variable of the config {helpers_file} that the '
            f'Runner does not read, and its value was already used when the config file was '
            f'read, so setting it now changes nothing; {instead}') + '$'):
        load_run_config(helpers_file, 'none', {key: 1}, None)
    with pytest.raises(ValueError, match=f'--cfg-options {re.escape(key)}: {top} is a variable'):
        load_config_with_options(helpers_file, {key: 1})  # get_flops.py, pytorch2onnx.py
    with pytest.raises(ValueError, match=re.escape(f"cfg_options['{key}']: {top} is a variable")):
        init_model(helpers_file, cfg_options={key: 1})  # in Python
    cfg = load_run_config(helpers_file, 'none', {'train_dataloader.dataset.data_root': 'x',
                                                 'val_dataloader.dataset.data_root': 'x'}, None)
    assert cfg.train_dataloader.dataset.data_root == cfg.val_dataloader.dataset.data_root == 'x'


def _runner_of(model: torch.nn.Module, dataset, batch_sampler=None) -> SimpleNamespace:
    """What check_classifier_size reads of a Runner: its model and its train loop's data."""
    return SimpleNamespace(model=model, train_loop=SimpleNamespace(
        dataloader=SimpleNamespace(dataset=dataset, batch_sampler=batch_sampler)))


def test_a_classifier_with_fewer_outputs_than_training_identities_is_refused(tiny_market,
                                                                           caplog):
    """The tiny Market-1501's train split holds 8 identities (labels 0..7): a 5-way
    classifier is refused before any batch, a 12-way one gets a warning; a model without a
    re-ID head and data other than a re-ID training split are not looked at further."""
    train = Market1501(data_root=str(tiny_market), split='train')
    reid = torch.nn.Module()
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    try:
        for num_classes in (8, 12):
            reid.head = BNNeckHead(in_channels=4, num_classes=num_classes)
            check_classifier_size(_runner_of(reid, train))
    finally:
        logger.removeHandler(caplog.handler)
    assert [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING] == [
        'the re-ID classifier has 12 outputs for the 8 training identities: 4 are never a '
        'target; set model.head.num_classes=8 unless that is meant']
    reid.head = BNNeckHead(in_channels=4, num_classes=5)
    with pytest.raises(ConfigError, match=r'^the training data has 8 identities but the re-ID '
                                          r'classifier has 5 outputs, one per identity: set '
                                          r'model\.head\.num_classes=8$'):
        check_classifier_size(_runner_of(reid, train))
    check_classifier_size(_runner_of(reid, Market1501(data_root=str(tiny_market), split='test')))
    check_classifier_size(_runner_of(torch.nn.Linear(4, 5), train))
    check_classifier_size(_runner_of(reid, list(range(100))))


def test_a_dataset_key_given_at_the_top_level_names_the_dataloader_keys():
    """``--cfg-options data_root=DIR`` on a re-ID config (which has no top-level data_root)
    is refused naming the three dataloader datasets' data_root, as docs/reid.md says."""
    config = 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'
    with pytest.raises(ValueError, match=re.escape(
            "--cfg-options data_root: the config has no top-level key 'data_root', so the "
            "option would be ignored; data_root is a key of the dataloaders' datasets: set "
            'train_dataloader.dataset.data_root, val_dataloader.dataset.data_root and '
            'test_dataloader.dataset.data_root instead')):
        load_config_with_options(str(Path(__file__).parents[2] / config), {'data_root': 'x'})


def test_a_data_root_given_to_one_loader_names_those_left_at_the_replaced_one(caplog):
    """Setting only the training data's folder leaves validation and testing on the config's
    folder, which they shared: a warning names them at once, not a missing folder later."""
    config = str(Path(__file__).parents[2] / 'configs/reid/'
                 'rga-sc_r50-ls1_1xb64-600e_custom-folders-256x128.py')
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    cfg = load_config_with_options(config, None)
    try:
        load_config_with_options(config, {'train_dataloader.dataset.data_root':
                                          cfg.train_dataloader.dataset.data_root})  # the same
        load_config_with_options(config, {'train_dataloader.dataset.data_root': 'mine'})
        load_config_with_options(config, {f'{loader}.dataset.data_root': 'mine' for loader in
                                          ('train_dataloader', 'val_dataloader',
                                           'test_dataloader')})
        # training without validation or testing: the other loaders read nothing
        load_config_with_options(config, {
            'train_dataloader.dataset.data_root': 'mine', 'val_dataloader': None,
            'val_cfg': None, 'val_evaluator': None, 'test_dataloader': None, 'test_cfg': None,
            'test_evaluator': None})
    finally:
        logger.removeHandler(caplog.handler)
    assert [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING] == [
        f'--cfg-options train_dataloader.dataset.data_root changes the data of '
        f'train_dataloader only: val_dataloader.dataset.data_root and '
        f'test_dataloader.dataset.data_root still read '
        f'{cfg.train_dataloader.dataset.data_root}; set them too where they read the same '
        f'data']


def test_identity_batches_too_small_for_the_triplet_loss_are_refused(tiny_market):
    """The batch-hard triplet loss needs 2 identities per batch (it used to fail at the first
    iteration) and 2 images per identity (it used to train without positive pairs)."""
    train = Market1501(data_root=str(tiny_market), split='train')
    reid = torch.nn.Module()
    reid.head = BNNeckHead(in_channels=4, num_classes=8)

    def runner(model, batch_size, num_instances):
        sampler = IdentityBatchSampler(DefaultSampler(train), batch_size, num_instances)
        return _runner_of(model, train, sampler)

    one_identity = ('train_dataloader.batch_size 4 with train_dataloader.batch_sampler.'
                    'num_instances 4 gives batches of a single identity, but the batch-hard '
                    'triplet loss (model.head.loss_triplet) needs at least 2 identities per '
                    'batch: set train_dataloader.batch_size to at least 8 (2 identities × 4 '
                    'images)')
    with pytest.raises(ConfigError, match=f'^{re.escape(one_identity)}$'):
        check_triplet_batches(runner(reid, 4, 4))
    one_image = ('train_dataloader.batch_sampler.num_instances is 1, so a batch holds one image '
                 'per identity and the batch-hard triplet loss (model.head.loss_triplet) has no '
                 'positive pair: set train_dataloader.batch_sampler.num_instances to at least '
                 '2, e.g. 4, and train_dataloader.batch_size to a multiple of it')
    with pytest.raises(ConfigError, match=f'^{re.escape(one_image)}$'):
        check_triplet_batches(runner(reid, 4, 1))
    check_triplet_batches(runner(reid, 8, 4))
    check_triplet_batches(runner(torch.nn.Linear(4, 5), 4, 1))  # no triplet loss


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize('script, before', [('dist_train.sh', ['c.py']),
                                            ('dist_test.sh', ['c.py', 'c.pth'])])
def test_dist_scripts_refuse_a_missing_gpu_count_and_a_port_in_use(script, before):
    """Both stop before torchrun: a forgotten GPUS used to reach torchrun as
    ``--nproc_per_node=--work-dir``; ``PYTHON=true`` stands in for torchrun."""
    path = Path(__file__).parents[2] / 'tools' / script
    position = len(before) + 1
    options = 'train.py' if script == 'dist_train.sh' else 'test.py'
    usage = ' '.join(['CONFIG', 'CHECKPOINT'][:len(before)] + ['GPUS', f'[{options} options]'])

    def run(*argv, port):
        env = {**os.environ, 'PORT': str(port), 'PYTHON': 'true', 'NODE_RANK': '0'}
        return subprocess.run(['bash', str(path), *before, *argv], env=env, text=True,
                              capture_output=True, timeout=30)

    for gpus in ('--work-dir', '0', '2x'):
        done = run(gpus, 'x', port=_free_port())
        assert (done.returncode, done.stderr) == (2, (
            f"{script}: GPUS (argument {position}) must be a positive integer, the number of "
            f"processes to start, got '{gpus}'; usage: bash tools/{script} {usage}\n"))
    with socket.socket() as listening:
        listening.bind(('127.0.0.1', 0))
        listening.listen()
        port = listening.getsockname()[1]
        done = run('2', port=port)
    assert (done.returncode, done.stderr) == (2, (
        f'{script}: port {port} is in use (another run?); set the PORT variable to a free '
        f'port, e.g. PORT={port + 1} bash tools/{script} ...\n'))
    assert run('2', port=_free_port()).returncode == 0
