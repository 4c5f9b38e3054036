"""RGA added to an unmodified mmseg config by the diff of docs/segmentation.md, "Add RGA to your
mmseg config" (paper §4.2)."""
import re
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

ROOT = Path(__file__).parents[2]
DOC = ROOT / 'docs' / 'segmentation.md'


def documented_diff_config() -> str:
    """The config the documented diff produces: its context and added lines, markers off."""
    diff = re.search(r'```diff\n(.*?)```', DOC.read_text(), re.S).group(1)
    return ''.join(line[1:] + '\n' for line in diff.splitlines()
                   if line[:1] in (' ', '+'))


def test_the_diff_inherits_an_unmodified_mmseg_config():
    text = documented_diff_config()
    assert "_base_ = ['mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py']" in text
    assert len(text.splitlines()) <= 7


def test_the_documented_diff_gives_a_working_pspnet_with_rga(tmp_path):
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    config = tmp_path / 'pspnet_r50-d8_rga-sc.py'
    config.write_text(documented_diff_config())
    cfg = Config.fromfile(str(config))
    assert cfg.model.neck.type == 'rga_mm.RGANeck' and cfg.model.decode_head.in_channels == 4096
    assert cfg.model.neck.norm_cfg == cfg.model.backbone.norm_cfg  # SyncBN, as the base's
    assert cfg.custom_hooks == [dict(type='rga_mm.CheckHeadsFitNeckHook')]
    # shrink for the CPU only: no pretrained download, plain BN, small head widths
    cfg.merge_from_dict({
        'model.pretrained': None, 'model.backbone.norm_cfg.type': 'BN',
        'model.neck.norm_cfg.type': 'BN',
        'model.decode_head.norm_cfg.type': 'BN', 'model.auxiliary_head.norm_cfg.type': 'BN',
        'model.decode_head.channels': 16, 'model.auxiliary_head.channels': 8,
        'model.data_preprocessor.size': (64, 64)})
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    assert type(model.neck).__name__ == 'RGANeck'

    images = [torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
    samples = []
    for _ in images:
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        label = torch.randint(0, 19, (1, 64, 64))
        label[:, :4] = 255
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=True)

    model.train()  # batch 2: PSP's 1×1 pooling branch needs more than one value per channel
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.neck.rga.spatial_gate.theta.conv.weight.grad is not None
    for name, param in model.neck.rga.named_parameters():  # the loss reaches every RGA weight
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().max() > 0, name

    model.eval()
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')
        features = model.extract_feat(data['inputs'])
    assert logits.shape == (2, 19, 8, 8)
    assert features[3].shape == (2, 4096, 8, 8) and features[2].shape[1] == 1024
