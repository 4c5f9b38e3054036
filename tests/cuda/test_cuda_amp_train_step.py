"""The paper's re-ID network (§4.1: ResNet-50 + RGA-SC, CE + triplet) trains under
mmengine's ``AmpOptimWrapper`` (fp16 autocast, dynamic loss scale) on CUDA.

The model comes from the Market-1501 RGA-SC config, without its ImageNet weights; a few
``train_step`` calls on a P×K batch (4 identities × 4 images at 256×128) must give finite
losses and update the weights. This is what ``tools/train.py --amp`` runs every iteration.

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import math
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope

from rga_mm.registry import MODELS
from rga_mm.testing import fake_reid_batch
from cuda_only import CUDA_ONLY

pytestmark = CUDA_ONLY

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'
STEPS = 6


def test_rga_sc_reid_train_step_with_amp_optim_wrapper():
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.backbone.init_cfg = None  # no ImageNet checkpoint file needed
    init_default_scope('rga_mm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model = model.cuda().train()
    assert model.head.classifier.out_features == cfg.model.head.num_classes == 751

    optim_cfg = cfg.optim_wrapper.to_dict()
    optim_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')  # as tools/train.py --amp
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    assert isinstance(optim_wrapper, AmpOptimWrapper)
    assert optim_wrapper.cast_dtype is None  # autocast's default for CUDA: fp16

    height, width = cfg.input_size
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = []
    for step in range(STEPS):
        torch.manual_seed(step)
        data = fake_reid_batch(num_identities=4, images_per_id=4, height=height, width=width)
        log_vars = model.train_step(data, optim_wrapper)
        history.append({key: torch.as_tensor(value).detach().item()
                        for key, value in log_vars.items()})
    for step, log_vars in enumerate(history):
        assert {'loss', 'loss_cls', 'loss_triplet'} <= set(log_vars), log_vars
        assert all(math.isfinite(v) for v in log_vars.values()), f'step {step}: {log_vars}'
    # the dynamic loss scale skips a step whose fp16 gradients overflowed and halves the
    # scale; over a few steps at least one update must go through
    scale = optim_wrapper.loss_scaler.get_scale()
    assert math.isfinite(scale) and scale >= 1, scale
    changed = [name for name, p in model.named_parameters()
               if not torch.equal(p.detach(), before[name])]
    assert any('spatial_gate' in name for name in changed), (
        f'no RGA weight changed in {STEPS} AMP steps (loss scale now {scale})')
    assert any(name.startswith('backbone.backbone.') for name in changed)
