"""What ``tools/train.py --resume`` checks against the checkpoint's saved run
(``rga_mm.engine.launch.resume``), on checkpoints laid out as mmengine's Runner writes them:
``meta['cfg']`` holds the run's config as text (``Config.pretty_text``)."""
import re

import pytest
from mmengine.config import Config

from rga_mm.engine.launch.distributed import check_gpu_for_local_rank
from rga_mm.engine.launch.resume import (
    batch_change_notice,
    check_model_unchanged,
    check_restored_settings_unchanged,
    check_resumes_at_epoch_end,
    earlier_run_notice,
    model_change_notice,
    model_changes,
    outside_run_notice,
    saved_config,
    saved_iters_per_epoch,
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


MODEL_RUN = dict(model=dict(
    type='ReIDModel', data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                                             mean=[123.675, 116.28, 103.53]),
    backbone=dict(type='StageAttentionBackbone',
                  backbone=dict(type='mmpretrain.ResNet', depth=18,
                                init_cfg=dict(type='Pretrained', checkpoint='r18.pth')),
                  attentions=dict(layer1=dict(type='RGA', in_channels=64,
                                              spatial_size=(16, 8))))))


def test_a_changed_model_is_refused_but_how_it_was_initialised_is_not():
    """Weights of the same shapes load into another RGA mode: resuming would train on in
    another network. init_cfg and pretrained only set the weights the checkpoint's replace,
    test_cfg only how the model infers; the data preprocessor's normalisation decides what
    the weights see."""
    text = Config(MODEL_RUN).pretty_text
    changed = Config(MODEL_RUN)
    changed.merge_from_dict({'model.backbone.attentions.layer1.mode': 'CS',
                             'model.backbone.backbone.init_cfg': None,
                             'model.backbone.pretrained': 'other.pth'})
    expected = "model.backbone.attentions.layer1.mode None → 'CS'"
    with pytest.raises(ConfigError) as refused:
        check_model_unchanged(changed, _checkpoint(text), 'e.pth')
    assert str(refused.value) == (
        f"--resume would train the weights of e.pth on in another model than its run's, "
        f"changed in the config: {expected}; resume without these changes, or start a new "
        f"run from its weights with --cfg-options load_from=e.pth")
    assert model_change_notice(changed, _checkpoint(text), 'e.pth') == (
        f"notice: e.pth was trained with other model settings than the config's, which it "
        f"is tested with: {expected}")
    changed.merge_from_dict({'model.data_preprocessor.mean': [0, 0, 0]})
    with pytest.raises(ConfigError, match=re.escape(
            f'{expected}; model.data_preprocessor.mean [123.675, 116.28, 103.53] → [0, 0, 0]; '
            f'resume without')):
        check_model_unchanged(changed, _checkpoint(text), 'e.pth')
    initialised = Config(MODEL_RUN)
    initialised.merge_from_dict({'model.backbone.backbone.init_cfg': None})
    check_model_unchanged(initialised, _checkpoint(text), 'e.pth')
    # how the model infers (mmseg's whole-image or sliding-window test) trains no weight
    tested = Config(MODEL_RUN)
    tested.merge_from_dict({'model.test_cfg': dict(mode='slide', crop_size=(64, 64))})
    check_model_unchanged(tested, _checkpoint(text), 'e.pth')
    assert model_change_notice(tested, _checkpoint(text), 'e.pth') == ''
    for no_config in ('', 'not python(', text.replace('depth=18', 'depth=DEPTH')):
        check_model_unchanged(changed, _checkpoint(no_config), 'e.pth')
        assert model_change_notice(changed, _checkpoint(no_config), 'e.pth') == ''


def test_a_checkpoint_saved_inside_an_epoch_is_refused_in_an_epoch_based_loop():
    """By iteration, mmengine records the epochs done: iteration 8 at the end of the second
    epoch of 4 iterations is epoch 1, which the loop would train again."""
    check_resumes_at_epoch_end(dict(epoch=2, iter=8), 'epoch_2.pth', 4)
    check_resumes_at_epoch_end(dict(iter=8), 'iter_8.pth', 4)
    with pytest.raises(ConfigError) as refused:
        check_resumes_at_epoch_end(dict(epoch=1, iter=8), 'iter_8.pth', 4)
    assert str(refused.value) == (
        "iter_8.pth records epoch 1 and iteration 8, but this run's epoch-based loop resumes "
        "it at the first batch of epoch 2, iteration 5 here (4 iterations an epoch), while "
        "counting on from iteration 9: it would not continue the run; resume from a "
        "checkpoint saved at the end of an epoch (epoch_N.pth), as "
        "default_hooks.checkpoint.by_epoch=True saves them")
    with pytest.raises(ConfigError, match='^iter_3.pth records epoch 0 and iteration 3, but'):
        check_resumes_at_epoch_end(dict(epoch=0, iter=3), 'iter_3.pth', 4)


def test_a_fresh_run_in_a_work_dir_of_an_earlier_run_is_told_what_it_replaces(tmp_path):
    """mmengine overwrites the earlier run's epoch_N.pth without a word."""
    cfg = Config(dict(work_dir=str(tmp_path)))
    assert earlier_run_notice(cfg) == ''
    (tmp_path / 'epoch_2.pth').write_bytes(b'')  # checkpoints alone: no run record
    assert earlier_run_notice(cfg) == ''
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert earlier_run_notice(cfg) == (
        f'notice: {tmp_path} holds an earlier run ({tmp_path / "last_checkpoint"}); this run '
        f'starts anew and replaces its checkpoints of the same names: pass --resume to '
        f'continue it, or give another --work-dir to keep it')


def test_the_epoch_length_is_the_saved_runs_not_the_data_loaders_of_today():
    """An epoch_N.pth of a run of 100 iterations an epoch (RuntimeInfoHook's max_iters over
    max_epochs) ends an epoch though today's data loader (another batch size or world size)
    gives 50; without the record the data loader's length is all there is."""
    hub = dict(runtime_info=dict(max_iters=8000, max_epochs=80, epoch=10, iter=1000))
    assert saved_iters_per_epoch(dict(message_hub=hub)) == 100
    check_resumes_at_epoch_end(dict(epoch=10, iter=1000), 'epoch_10.pth',
                               saved_iters_per_epoch(dict(message_hub=hub)))
    with pytest.raises(ConfigError, match='^epoch_10.pth records epoch 10 and iteration 1000'):
        check_resumes_at_epoch_end(dict(epoch=10, iter=1000), 'epoch_10.pth', 50)
    assert saved_iters_per_epoch({}) is None
    assert saved_iters_per_epoch(dict(message_hub=dict(runtime_info=dict(max_iters=8000)))) \
        is None


def test_a_checkpoint_recorded_as_ending_an_epoch_is_not_recounted():
    """A run of 7 iterations an epoch for 2 epochs, resumed on 2 processes at 3 an epoch,
    saves epoch 3 at iteration 14 + 3 = 17: no whole number of epochs of either length. The
    hook's record says where it was saved; a checkpoint without it is counted as before."""
    check_resumes_at_epoch_end(dict(epoch=3, iter=17, epoch_end=True), 'epoch_3.pth', 3)
    with pytest.raises(ConfigError, match='^epoch_3.pth records epoch 3 and iteration 17'):
        check_resumes_at_epoch_end(dict(epoch=3, iter=17), 'epoch_3.pth', 3)
    with pytest.raises(ConfigError, match='^iter_8.pth records epoch 1 and iteration 8'):
        check_resumes_at_epoch_end(dict(epoch=1, iter=8, epoch_end=False), 'iter_8.pth', 4)


def _run_with_batch(batch_size: int, world_size: int | None) -> dict:
    """A checkpoint of a run of ``world_size`` processes (not recorded: None) at
    ``batch_size`` images a batch."""
    checkpoint = _checkpoint(Config(dict(train_dataloader=dict(batch_size=batch_size)))
                             .pretty_text)
    if world_size is not None:
        checkpoint['meta']['world_size'] = world_size
    return checkpoint


def test_a_resume_with_steps_of_another_size_is_noted():
    """The images of a step are processes × batch size; the same step split otherwise is
    the same run's step size. A checkpoint without a recorded world size (saved by another
    hook) is taken as trained by today's, a batch size written as code is not compared."""
    cfg = Config(dict(train_dataloader=dict(batch_size=32)))
    assert batch_change_notice(cfg, _run_with_batch(32, 1), 'e.pth', 2) == (
        'notice: e.pth was trained by 1 process × 32 images a batch (32 a step), this run by '
        '2 processes × 32 (64 a step): it goes on at the learning rate restored from the '
        'checkpoint, with larger steps and epochs of another number of iterations; resume '
        "with the run's processes and train_dataloader.batch_size to continue it as it was")
    assert batch_change_notice(cfg, _run_with_batch(64, None), 'e.pth', 1).startswith(
        'notice: e.pth was trained by 1 process × 64 images a batch (64 a step), this run by '
        '1 process × 32 (32 a step): it goes on at the learning rate restored from the '
        'checkpoint, with smaller steps')
    assert batch_change_notice(cfg, _run_with_batch(32, 2), 'e.pth', 2) == ''
    assert batch_change_notice(cfg, _run_with_batch(64, 1), 'e.pth', 2) == ''
    as_code = _checkpoint('train_dataloader = dict(batch_size=BATCH)')
    assert batch_change_notice(cfg, as_code, 'e.pth', 4) == ''


def test_a_rank_without_a_gpu_of_its_own_stops_naming_the_count():
    """torchrun's LOCAL_RANK picks the GPU; mmengine's set_device fails past the last."""
    check_gpu_for_local_rank('1', 2, 'tools/dist_train.sh')
    check_gpu_for_local_rank(None, 0, 'tools/dist_train.sh')
    with pytest.raises(SystemExit) as stopped:
        check_gpu_for_local_rank('2', 2, 'tools/dist_test.sh')
    assert str(stopped.value) == (
        'local rank 2 has no GPU on this machine, which has 2: tools/dist_test.sh starts one '
        'process per GPU, so give it a GPU count of 2 or fewer (CUDA_VISIBLE_DEVICES decides '
        'which GPUs)')


def test_syncbn_and_bn_are_the_same_model_across_gpu_and_cpu_distributed_runs():
    """A CPU-distributed run trains a SyncBN config with BN; resuming it on GPUs (or the
    other way round) continues the same network. Another norm is a change."""
    def config(norm: str) -> Config:
        return Config(dict(model=dict(type='EncoderDecoder',
                                      backbone=dict(norm_cfg=dict(type=norm)),
                                      decode_head=dict(norm_cfg=dict(type=norm)))))

    saved = _checkpoint(config('SyncBN').pretty_text)
    assert model_changes(config('BN'), saved) == []
    assert model_changes(config('SyncBN'), _checkpoint(config('BN').pretty_text)) == []
    assert len(model_changes(config('GN'), saved)) == 2
