"""AtomicCheckpointHook on a save that fails and on a checkpoint a kill left behind.

Real mmengine Runners train a tiny model (4 samples in batches of 2, 2 iterations an epoch)
with ``AtomicCheckpointHook(interval=1, max_keep_ckpts=1)``: its checkpoints, 2 MiB with the
optimizer's momentum, are written by mmengine's own code to a real folder.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner

from real_interrupts import ctrl_c_when_called
from tool_runs import limit_file_size

ROOT = Path(__file__).parents[2]
ERROR = 'rga_mm.engine.hooks.atomic_checkpoint_hook.CheckpointWriteError: '


class Tiny(BaseModel):
    """A 512 × 512 linear layer (1 MiB of weights) that counts its training steps."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(512, 512)
        self.steps = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.steps += 1
        return dict(loss=self.linear(inputs).square().mean())


def _runner(work_dir: Path, max_epochs: int, resume: bool = False) -> Runner:
    loader = dict(dataset=[dict(inputs=torch.ones(512))] * 4, batch_size=2, num_workers=0,
                  collate_fn=dict(type='default_collate'),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    return Runner(
        model=Tiny(), work_dir=str(work_dir), train_dataloader=loader,
        experiment_name=f'{work_dir.parent.name}_{max_epochs}',  # one per Runner
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1,
                                           max_keep_ckpts=1)),
        resume=resume, default_scope='rga_mm', log_level='WARNING')


def resume_under_a_file_size_limit(work_dir: str, limit: int) -> None:
    """(In a fresh interpreter.) Resume the run in ``work_dir`` up to epoch 2 with files
    limited to ``limit`` bytes, as after ``ulimit -f``, and SIGXFSZ ignored: its default
    action kills the process, which then gets no EFBIG error from the write."""
    limit_file_size(limit)
    _runner(Path(work_dir), max_epochs=2, resume=True).train()


def _files(folder: Path) -> list[str]:
    """The files in ``folder`` but the configs the Runners dump there."""
    return sorted(path.name for path in folder.iterdir()
                  if path.is_file() and path.suffix != '.py')


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_a_checkpoint_past_the_file_size_limit_is_named_removed_and_resumable(tmp_path):
    work_dir = tmp_path / 'work'
    _runner(work_dir, max_epochs=1).train()
    previous = work_dir / 'epoch_1.pth'
    size = previous.stat().st_size
    assert size > 2**21  # half of it, the limit, is far more than the logs write

    code = (f'import test_atomic_checkpoint_faults as t; '
            f't.resume_under_a_file_size_limit({str(work_dir)!r}, {size // 2})')
    failed = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, 'PYTHONPATH': f'{Path(__file__).parent}{os.pathsep}{ROOT / "tests"}',
             'OMP_NUM_THREADS': '1'})
    assert failed.returncode == 1, failed.stderr[-3000:]
    # one error, last in the traceback: the file, the reason, the sizes, the way on
    message = failed.stderr.rstrip().splitlines()[-1]
    assert re.fullmatch(re.escape(
        f'{ERROR}Could not write the checkpoint {work_dir / "epoch_2.pth"}: File too large. '
        f'It needs about {size / 2**20:.1f} MiB (the size of epoch_1.pth), more than the '
        f'size limit of a file this process writes ({size // 2 / 2**20:.1f} MiB, ulimit -f); '
    ) + r'[\d.]+ [MG]iB' + re.escape(
        ' are free on that disk. The previous complete checkpoint '
        f'{previous} and last_checkpoint are intact: raise the limit (ulimit -f unlimited) '
        'and run again with --resume to continue from it.'), message), failed.stderr[-3000:]

    # the half-written epoch_2.pth.partial is gone; the previous checkpoint is named
    assert _files(work_dir) == ['epoch_1.pth', 'last_checkpoint']
    assert (work_dir / 'last_checkpoint').read_text() == str(previous)
    assert previous.stat().st_size == size
    # and resumed from: the second epoch alone is trained, and saved in place of the first
    resumed = _runner(work_dir, max_epochs=2, resume=True)
    resumed.train()
    assert resumed.model.steps == 2
    assert _files(work_dir) == ['epoch_2.pth', 'last_checkpoint']
    assert torch.load(work_dir / 'epoch_2.pth', weights_only=True)['meta']['epoch'] == 2


def test_a_checkpoint_a_kill_left_before_its_deletion_goes_at_the_next_save(tmp_path):
    """A real SIGINT (Ctrl-C) once epoch_2.pth and last_checkpoint are written, as the
    deletion of epoch_1.pth (``max_keep_ckpts=1``) starts; then ``resume`` to epoch 3."""
    work_dir = tmp_path / 'work'
    with pytest.raises(KeyboardInterrupt), ctrl_c_when_called(LocalBackend.remove.__code__):
        _runner(work_dir, max_epochs=2).train()
    assert _files(work_dir) == ['epoch_1.pth', 'epoch_2.pth', 'last_checkpoint']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_2.pth')
    # a best checkpoint is no checkpoint of the template's: never deleted
    best = work_dir / 'best_loss_epoch_1.pth'
    best.write_bytes((work_dir / 'epoch_1.pth').read_bytes())

    resumed = _runner(work_dir, max_epochs=3, resume=True)
    resumed.train()
    assert resumed.model.steps == 2
    assert _files(work_dir) == [best.name, 'epoch_3.pth', 'last_checkpoint']


def test_a_last_checkpoint_that_cannot_be_written_names_the_complete_checkpoint(tmp_path):
    """A folder where last_checkpoint's temporary file goes makes its write fail once the
    checkpoint itself is complete: the error says so and names it for --resume."""
    work_dir = tmp_path / 'work'
    (work_dir / 'last_checkpoint.partial').mkdir(parents=True)
    with pytest.raises(OSError, match=re.escape(
            f'Could not write {work_dir / "last_checkpoint"}: Is a directory. The checkpoint '
            f'{work_dir / "epoch_1.pth"} is complete, but last_checkpoint still names the one '
            f'before it: remove the cause and resume with --resume {work_dir / "epoch_1.pth"}')):
        _runner(work_dir, max_epochs=1).train()
    assert torch.load(work_dir / 'epoch_1.pth', weights_only=True)['meta']['epoch'] == 1

