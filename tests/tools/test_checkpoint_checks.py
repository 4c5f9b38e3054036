"""rga_mm.apis' checkpoint checks: what a bad file is, whether it can be resumed, whether its
tensors fit the model (names and shapes), and init_model's strict / partial loading."""
import ctypes
import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from rga_mm.apis import (
    CheckpointError,
    check_checkpoint_file,
    check_checkpoint_fits,
    check_resumable,
    get_model,
    init_model,
    load_state_dict_file,
    read_checkpoint,
)
from rga_mm.apis.checkpoints import PARTIAL_HINT

TINY_CONFIG = """
default_scope = 'rga_mm'
model = dict(
    type='StageAttentionBackbone',
    backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )),
    attentions=dict(layer1=dict(type='RGA', in_channels=64, spatial_size=(8, 4), reduction=4)))
"""

ROOT = Path(__file__).parents[2]


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def _truncated(path: Path) -> Path:
    _save(path, {'state_dict': {'weight': torch.randn(64, 64)}})
    path.write_bytes(path.read_bytes()[:-100])
    return path


@pytest.mark.parametrize('make, what', [
    (lambda p: p.write_bytes(b''), r'is an empty file \(0 bytes\), not a checkpoint'),
    (_truncated, r'is a PyTorch file that is truncated or corrupt'),
    (lambda p: p.write_text("model = dict(type='RGA')\n"),
     r'is not a PyTorch checkpoint: torch.load cannot read it'),
    (lambda p: _save(p, torch.zeros(3)), r'holds a Tensor, not a checkpoint'),
    (lambda p: _save(p, {'model': {'w': torch.zeros(1)}, 'epoch': 3}),
     r'holds no state dict: it is a dict with keys \(model, epoch\)'),
    (lambda p: _save(p, {'state_dict': {'model': {'w': torch.zeros(1)}}}),
     r"holds no state dict: its 'state_dict' is a dict with keys \(model\)"),
    (lambda p: _save(p, {'state_dict': {'state_dict': {'w': torch.zeros(1)}, 'meta': {}}}),
     r"holds a checkpoint inside a checkpoint: its tensors are under "
     r"\['state_dict'\]\['state_dict'\]; save the inner one"),
    (lambda p: _save(p, {'state_dict': {}}),
     r'holds an empty state dict \(no tensors at all\); it was probably saved'),
    (lambda p: _save(p, {}), r'holds an empty state dict \(no tensors at all\)'),
], ids=['empty', 'truncated', 'text', 'tensor', 'other-layout', 'other-inner-layout',
        'nested-checkpoint', 'empty-state-dict', 'empty-dict'])
def test_a_bad_file_is_named_with_what_it_is(make, what, tmp_path):
    path = tmp_path / 'bad.pth'
    make(path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r'.*' + what):
        load_state_dict_file(str(path))


@pytest.mark.parametrize('name', ['run.py', 'run.yaml'])
def test_a_config_given_as_the_checkpoint_is_named_a_config(name, tmp_path):
    """The config a Runner saves in its work dir sits beside the checkpoints, so the two
    arguments get swapped; a dumped config starts with ``custom_hooks``, whose 'c' pickle
    reads as an opcode: before this check the file was reported as an unsafe pickle."""
    path = tmp_path / name
    path.write_text("custom_hooks = []\nmodel = dict(type='RGA')\n")
    with pytest.raises(CheckpointError, match=re.escape(
            f'{path} is a config file, not a checkpoint: give the config first and the '
            f'checkpoint (.pth) second')):
        load_state_dict_file(str(path))
    saved = _save(tmp_path / 'weights.py', {'state_dict': {'w': torch.zeros(1)}})
    assert load_state_dict_file(str(saved)).keys() == {'w'}  # a checkpoint by any name


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines on stderr
        pass


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """A server on this machine of the files in ``folder`` for the block: its address."""
    server = ThreadingHTTPServer(('127.0.0.1', 0),
                                 functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


REFUSED_URL = 'http://127.0.0.1:9/x.pth'  # the discard port, where nothing listens here


def test_a_url_that_cannot_be_downloaded_is_named_with_the_reason(tmp_path, monkeypatch):
    """A refused connection and a 404, without network: one sentence naming the URL, why
    and the fix, and nothing left in torch.hub's download folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    served = tmp_path / 'served'
    served.mkdir()
    with http_server(served) as address:
        for url, reason in ((REFUSED_URL, 'Connection refused'),
                            (f'{address}/missing.pth', 'HTTP Error 404: File not found')):
            with pytest.raises(CheckpointError) as error:
                read_checkpoint(url)
            assert str(error.value) == (
                f'could not download checkpoint {url} ({reason}): download the file where it '
                f'can be reached (a browser, curl) and give its path instead')
    assert list((tmp_path / 'torch_home').rglob('*.pth*')) == []


def _run_dir(folder: Path) -> tuple[Path, Path]:
    """A work dir as the Runner leaves it: (its checkpoint, its last_checkpoint naming it)."""
    folder.mkdir()
    checkpoint = _save(folder / 'epoch_3.pth', {'state_dict': {'w': torch.zeros(2)}})
    pointer = folder / 'last_checkpoint'
    pointer.write_text(str(checkpoint))
    return checkpoint, pointer


def test_a_pointer_to_the_last_checkpoint_is_told_apart_from_a_checkpoint(tmp_path):
    """mmengine's last_checkpoint (whatever it names) and any small text file naming an
    existing .pth file: each said to be one, with the file it names."""
    checkpoint, pointer = _run_dir(tmp_path / 'run')
    copy = tmp_path / 'latest.txt'
    copy.write_text(f'{checkpoint}\n')
    stale = tmp_path / 'last_checkpoint'
    stale.write_text(str(tmp_path / 'deleted.pth'))
    cases = {
        pointer: (f"{pointer} is mmengine's pointer to the last checkpoint, not a checkpoint: "
                  f'give {checkpoint}, the file it names, instead'),
        copy: (f"{copy} is a text file naming a checkpoint, as mmengine's last_checkpoint "
               f'does, not a checkpoint: give {checkpoint}, the file it names, instead'),
        stale: (f"{stale} is mmengine's pointer to the last checkpoint, not a checkpoint, and "
                f'the file it names, {tmp_path / "deleted.pth"}, does not exist: give a '
                f'checkpoint file (.pth) instead')}
    for path, message in cases.items():
        with pytest.raises(CheckpointError) as error:
            read_checkpoint(str(path))
        assert str(error.value) == message


def test_a_run_folder_as_checkpoint_is_told_the_checkpoint_its_pointer_names(tmp_path):
    """A work dir with a last_checkpoint: the file it names; a folder without one (or whose
    pointer names nothing that exists): a checkpoint file in it."""
    checkpoint, pointer = _run_dir(tmp_path / 'run')
    for check in (check_checkpoint_file, read_checkpoint):
        with pytest.raises(FileNotFoundError) as error:
            check(str(pointer.parent))
        assert str(error.value) == (f'checkpoint {pointer.parent} is a folder; give a '
                                    f'checkpoint file instead, e.g. {checkpoint}, the last '
                                    f'checkpoint its last_checkpoint names')
    checkpoint.unlink()
    with pytest.raises(FileNotFoundError) as error:
        check_checkpoint_file(str(pointer.parent))
    assert str(error.value) == (f'checkpoint {pointer.parent} is a folder; give a checkpoint '
                                f'file (.pth) in it')


# Linux capabilities that let root read any file: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
DAC_CAPABILITIES = (1 << 1) | (1 << 2)
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32),
                ('inheritable', ctypes.c_uint32)]


@contextmanager
def file_modes_enforced():
    """Inside the block, this thread is denied what a file's mode denies its owner: as root,
    the capabilities that override file modes leave its effective set (capset(2), this
    thread only) and come back after."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, saved = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), saved) != 0:
        pytest.skip(f'root here, and capget fails ({os.strerror(ctypes.get_errno())}), so '
                    'no file can be made unreadable to this process')
    dropped = (_CapData * 2)(*saved)
    dropped[0].effective &= ~DAC_CAPABILITIES
    if libc.capset(ctypes.byref(header), dropped) != 0:
        pytest.skip(f'root here, and dropping CAP_DAC_OVERRIDE fails '
                    f'({os.strerror(ctypes.get_errno())}), so no file can be made unreadable '
                    'to this process')
    try:
        yield
    finally:
        assert libc.capset(ctypes.byref(header), saved) == 0, os.strerror(ctypes.get_errno())


# run in a fresh interpreter: its heap holds no freed block large enough for the tensor, so
# reading it needs new address space (a process forked from the test runner may reuse one)
READ_WITH_LITTLE_MEMORY = """
import re, resource, sys
from rga_mm.apis import read_checkpoint
status = open('/proc/self/status').read()
size = int(re.search(r'^VmSize:\\s+(\\d+) kB', status, re.MULTILINE).group(1)) * 1024
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[2]), hard))
try:
    read_checkpoint(sys.argv[1])
    print('nothing raised')
except Exception as error:  # MemoryError included
    print(f'{type(error).__name__}: {error}')
"""


def read_with_little_memory(path: Path, spare: int) -> str:
    """What read_checkpoint(path) raises in a new process whose address space (RLIMIT_AS,
    over its VmSize once rga_mm is imported) has ``spare`` bytes left: ``'Type: message'``."""
    result = subprocess.run([sys.executable, '-c', READ_WITH_LITTLE_MEMORY, str(path),
                             str(spare)], capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_a_failure_of_the_machine_is_not_blamed_on_the_file(tmp_path):
    """Real faults: running out of memory (a process whose address space cannot hold the
    checkpoint's 64 MiB tensor) stays a MemoryError, an unreadable file (mode 000) is said to
    be unreadable (not corrupt)."""
    big = _save(tmp_path / 'big.pth', {'state_dict': {'weight': torch.zeros(16 * 2**20)}})
    raised = read_with_little_memory(big, spare=16 * 2**20)
    assert re.match(r"MemoryError: .*cannot allocate", raised), raised

    path = _save(tmp_path / 'good.pth', {'state_dict': {'weight': torch.zeros(2)}})
    path.chmod(0)
    try:
        with file_modes_enforced(), pytest.raises(
                CheckpointError,
                match=f'cannot read checkpoint {re.escape(str(path))}: Permission denied$'):
            read_checkpoint(str(path))
    finally:
        path.chmod(0o644)


def test_weights_cannot_be_resumed_but_a_runner_checkpoint_can(tmp_path):
    state_dict = {'w': torch.zeros(2)}
    for weights in ({'state_dict': state_dict}, state_dict):
        path = _save(tmp_path / 'weights.pth', weights)
        with pytest.raises(CheckpointError, match=r'holds weights only .* pass --cfg-options '
                                                  rf'load_from={re.escape(str(path))} '
                                                  r'instead of --resume'):
            check_resumable(read_checkpoint(str(path)), str(path))
    runner_like = _save(tmp_path / 'epoch_3.pth', {
        'meta': {'epoch': 3, 'iter': 30}, 'state_dict': state_dict, 'message_hub': {},
        'optimizer': {}})
    check_resumable(read_checkpoint(str(runner_like)), str(runner_like))


def test_missing_and_extra_tensors_are_counted_and_named():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Linear(4, 2))
    state_dict = {k: v for k, v in model.state_dict().items() if not k.startswith('2.')}
    state_dict['3.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=re.escape(
            "checkpoint ckpt.pth does not fit the model built from the config: it misses 2 of "
            "the model's 8 keys (2.weight, 2.bias) and has 1 keys the model does not have "
            "(3.weight); it was saved from another model or config, and if it is meant to "
            "fill only part of the model, pass --partial-load")):
        check_checkpoint_fits(model, state_dict, 'ckpt.pth')
    check_checkpoint_fits(model, state_dict, 'ckpt.pth', strict=False)

    complete = dict(model.state_dict())
    del complete['1.num_batches_tracked']  # torch fills BatchNorm's counter in
    check_checkpoint_fits(model, complete, 'ckpt.pth')


def test_another_architecture_is_named_by_its_counts_before_any_one_shape():
    """A ResNet-50 checkpoint for a ResNet-18 model: other keys and other shapes of shared
    keys; the refusal counts all three, where the first shape alone would hide the rest."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    other = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Conv2d(4, 8, 1))
    with pytest.raises(CheckpointError, match=re.escape(
            "checkpoint r50.pth does not fit the model built from the config: it has 2 keys "
            "the model does not have (2.weight, 2.bias) and holds 1 tensor of other shapes "
            "than the model's (0.weight); it was saved from another model or config")):
        check_checkpoint_fits(model, other.state_dict(), 'r50.pth')
    reshaped = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).state_dict()
    reshaped['1.weight'] = torch.ones(5)
    with pytest.raises(CheckpointError, match=re.escape(
            "ckpt.pth: checkpoint tensor '0.weight' has shape (4, 3, 1, 1) but the model built "
            "from the config expects (4, 3, 3, 3) (and 1 tensor more); the checkpoint was "
            "trained with another configuration")):
        check_checkpoint_fits(model, reshaped, 'ckpt.pth')


def test_init_model_refuses_another_models_weights_unless_not_strict(tmp_path):
    config = tmp_path / 'tiny_rga.py'
    config.write_text(TINY_CONFIG)
    model = init_model(config)
    backbone_only = {k: v.clone().normal_() if v.is_floating_point() else v
                     for k, v in model.state_dict().items() if k.startswith('backbone.')}
    num_attention = sum(k.startswith('attentions.') and not k.endswith('num_batches_tracked')
                        for k in model.state_dict())
    checkpoint = _save(tmp_path / 'backbone.pth', {'state_dict': backbone_only})

    with pytest.raises(CheckpointError, match=rf'misses {num_attention} of the model\'s '
                                              r'\d+ keys \(attentions\.layer1\.'):
        init_model(config, checkpoint=str(checkpoint))
    partial = init_model(config, checkpoint=str(checkpoint), strict=False)
    for key, value in backbone_only.items():
        assert torch.equal(partial.state_dict()[key], value), key


BOTH_WAYS = ('pass --partial-load to a command-line tool, or strict=False to '
             'rga_mm.apis.init_model, get_model or ReIDInferencer, to load just the tensors '
             'whose names and shapes match')


def test_a_refusal_names_the_tools_option_and_the_apis_argument():
    """Missing keys and other shapes alike: a refusal reaches tool and API users, so it names
    both ways to load partially."""
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Linear(4, 2))
    missing = {k: v for k, v in model.state_dict().items() if k.startswith('0.')}
    other_shape = dict(model.state_dict(), **{'1.bias': torch.zeros(3)})
    for state_dict in (missing, other_shape):
        with pytest.raises(CheckpointError, match=re.escape(BOTH_WAYS) + '$'):
            check_checkpoint_fits(model, state_dict, 'ckpt.pth')


class _Head(nn.Module):
    """A classification head as mmpretrain's and rga_mm's keep their class count."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(4, num_classes)


def test_a_head_of_another_class_count_is_told_the_num_classes_to_build():
    """Named for the tools and the API alike, read from the checkpoint; a checkpoint that
    differs elsewhere too gets no such hint."""
    model = nn.ModuleDict(dict(backbone=nn.Conv2d(3, 4, 1), head=_Head(751)))
    other_classes = nn.ModuleDict(dict(backbone=nn.Conv2d(3, 4, 1), head=_Head(8)))
    with pytest.raises(CheckpointError, match=re.escape(
            "expects (751, 4) (and 1 tensor more); the checkpoint was trained for another "
            "number of classes: pass --cfg-options model.head.num_classes=8 to a command-line "
            "tool, or cfg_options={'model.head.num_classes': 8} to rga_mm.apis.init_model, "
            "get_model or ReIDInferencer, to build the model it fits; " + PARTIAL_HINT) + '$'):
        check_checkpoint_fits(model, other_classes.state_dict(), 'ckpt.pth')
    other_size = dict(other_classes.state_dict(), **{'backbone.weight': torch.zeros(4, 3, 3, 3)})
    with pytest.raises(CheckpointError) as error:
        check_checkpoint_fits(model, other_size, 'ckpt.pth')
    assert 'num_classes' not in str(error.value)


def test_get_model_names_its_strict_argument_for_a_checkpoint_that_does_not_fit(tmp_path):
    name = 'rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32'
    backbone_only = {k: v for k, v in get_model(name).state_dict().items()
                     if k.startswith('backbone.')}
    checkpoint = _save(tmp_path / 'backbone.pth', {'state_dict': backbone_only})
    with pytest.raises(CheckpointError, match=r'misses \d+ .*strict=False to '
                                              r'rga_mm\.apis\.init_model, get_model or '
                                              r'ReIDInferencer'):
        get_model(name, checkpoint=str(checkpoint))
    get_model(name, checkpoint=str(checkpoint), strict=False)
