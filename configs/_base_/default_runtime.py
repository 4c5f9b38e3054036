default_scope = 'rga_mm'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, but a kill at any moment leaves a complete checkpoint to
    # resume from (rga_mm/engine/hooks/atomic_checkpoint_hook.py)
    checkpoint=dict(type='rga_mm.AtomicCheckpointHook', interval=50, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # average BN statistics over the ranks once training changed them, before the end of an
    # epoch, a checkpoint or a validation, so that every rank evaluates and saves the same
    # model (rga_mm/engine/hooks/sync_buffers_hook.py)
    sync_buffers=dict(type='rga_mm.SyncBuffersHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl', timeout=600),  # seconds a rank waits for a hung one
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=16, deterministic=False)
