"""What ``tools/train.py --resume`` checks against the checkpoint's saved run
(``rga_mm.engine.launch.resume``), on checkpoints laid out as mmengine's Runner writes them:
``meta['cfg']`` holds the run's config as text (``Config.pretty_text``)."""
import pytest
from mmengine.config import Config

from rga_mm.engine.launch.resume import (
    check_restored_settings_unchanged,
    outside_run_notice,
    saved_config,
)
from rga_mm.errors import ConfigError

RUN = dict(
    optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=8e-4,
                                                           betas=(0.9, 0.999))),
    param_scheduler=[dict(type='MultiStepLR', by_epoch=True, milestones=[60, 72])],
    train_cfg=dict(max_epochs=80))


def _checkpoint(cfg_text: str, *states: str) -> dict:
    return dict(meta=dict(epoch=2, seed=16, cfg=cfg_text), state_dict={},
                **{state: {} for state in states})


def test_the_saved_config_is_read_as_the_runner_wrote_it_without_running_it(tmp_path):
    """The text comes with a checkpoint read with weights_only=True: it must not run."""
    written = tmp_path / 'written'
    text = (f'marker = open({str(written)!r}, "w").write("ran")\n'
            + Config(RUN).pretty_text)
    entries = saved_config(_checkpoint(text))
    assert not written.exists()
    assert entries['optim_wrapper'] == Config(RUN).to_dict()['optim_wrapper']
    assert entries['param_scheduler'] == RUN['param_scheduler']
    changed = Config(RUN)
    changed.merge_from_dict({'optim_wrapper.optimizer.lr': 0.1})
    with pytest.raises(ConfigError, match='optim_wrapper.optimizer.lr 0.0008 → 0.1; resume'):
        check_restored_settings_unchanged(changed, _checkpoint(text, 'optimizer'), 'e.pth')


def test_only_entries_a_restored_state_overwrites_are_refused():
    """mmengine restores the optimizer and the schedulers only where the checkpoint holds
    them (save_optimizer=False, save_param_scheduler=False); the schedule's length and
    anything written as code are not compared."""
    text = Config(RUN).pretty_text
    changed = Config(RUN)
    changed.merge_from_dict({'optim_wrapper.optimizer.lr': 0.1,
                             'param_scheduler.0.milestones': [2], 'train_cfg.max_epochs': 9})
    check_restored_settings_unchanged(changed, _checkpoint(text), 'e.pth')
    with pytest.raises(ConfigError, match=r': param_scheduler.0.milestones \[60, 72\] → \[2\];'):
        check_restored_settings_unchanged(changed, _checkpoint(text, 'param_schedulers'),
                                          'e.pth')
    as_code = text.replace('lr=0.0008', 'lr=base_lr')
    check_restored_settings_unchanged(changed, _checkpoint(as_code, 'optimizer'), 'e.pth')
    check_restored_settings_unchanged(changed, _checkpoint('not python(', 'optimizer'), 'e.pth')


def test_a_checkpoint_in_the_hooks_out_dir_is_the_runs_own(tmp_path):
    """With ``default_hooks.checkpoint.out_dir`` mmengine saves to <out_dir>/<work dir name>."""
    work_dir, out_dir = tmp_path / 'work', tmp_path / 'big_disk'
    cfg = Config(dict(work_dir=str(work_dir),
                      default_hooks=dict(checkpoint=dict(out_dir=str(out_dir)))))
    assert outside_run_notice(str(out_dir / 'work' / 'epoch_3.pth'), cfg) == ''
    assert outside_run_notice(str(work_dir / 'epoch_3.pth'), cfg).startswith(
        f'resuming from {work_dir / "epoch_3.pth"}, which {work_dir / "last_checkpoint"} '
        f'names outside {out_dir / "work"}, where this run saves its checkpoints')
