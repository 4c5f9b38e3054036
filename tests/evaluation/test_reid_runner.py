"""Dataset, pipeline, sampler and metric inside a real mmengine Runner."""
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

from rga_mm.datasets import TEST_PIPELINE, TRAIN_PIPELINE

RED, GREEN, BLUE, WHITE = (0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255)  # BGR
# A Market-1501 tree of solid-colour images (name → colour)
TREE = {
    'bounding_box_train': {'0002_c1s1_000451_03.jpg': RED, '0002_c2s1_000301_01.jpg': RED,
                           '0007_c1s6_028546_01.jpg': GREEN, '0007_c6s1_001151_02.jpg': GREEN},
    'query': {'0001_c1s1_001051_00.jpg': RED, '0003_c2s1_000301_00.jpg': GREEN,
              '0004_c1s1_000100_00.jpg': WHITE},
    'bounding_box_test': {
        '0000_c1s1_000151_01.jpg': RED,  # a distractor tied with 0001's match, listed first
        '0000_c4s2_059471_04.jpg': BLUE,
        '0001_c1s1_001051_01.jpg': RED,  # 0001's own camera: removed
        '0001_c2s1_000301_01.jpg': RED,  # 0001's valid match
        '0003_c3s1_000551_02.jpg': GREEN,
        '0004_c1s1_000200_01.jpg': WHITE,  # 0004's only image, own camera: no valid match
        '-1_c1s1_000401_03.jpg': GREEN,  # junk: dropped by the dataset
    },
}


def write_market(root: Path) -> str:
    for folder, images in TREE.items():
        (root / folder).mkdir(parents=True)
        for name, colour in images.items():
            cv2.imwrite(str(root / folder / name), np.full((32, 16, 3), colour, np.uint8))
    return str(root)


class MeanColour(BaseModel):
    """Embeds an image as its mean normalised colour."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], to_rgb=True))
        self.unused = torch.nn.Linear(1, 1)  # the Runner wants parameters

    def forward(self, inputs, data_samples=None, mode='tensor'):
        for data_sample, feature in zip(data_samples, inputs.mean(dim=(2, 3))):
            data_sample.set_field(feature, 'pred_feature')
        return data_samples


def test_runner_test_loop_reports_the_hand_worked_metrics(tmp_path):
    """0001: the tied distractor ranks first, its match second: AP = INP = 1/2.
    0003: match first: AP = INP = 1. 0004: skipped (no valid match), so the scores average
    over two queries: mAP = mINP = 75 %, R1 = 50 %."""
    root = write_market(tmp_path / 'Market-1501-v15.09.15')
    runner = Runner(
        model=MeanColour(),
        work_dir=str(tmp_path / 'work'), experiment_name=f'reid_runner_{tmp_path.name}',
        test_dataloader=dict(
            batch_size=3, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='rga_mm.Market1501', data_root=root, split='test',
                         pipeline=TEST_PIPELINE)),
        test_evaluator=dict(type='rga_mm.ReIDMetric', topk=(1, 5)),
        test_cfg=dict(type='TestLoop'),
        default_scope='rga_mm',
        log_level='WARNING')
    metrics = runner.test()
    assert metrics == {'reid/mAP': 75.0, 'reid/mINP': 75.0, 'reid/rank1': 50.0,
                       'reid/rank5': 100.0,
                       # three queries: two evaluated, 0004 skipped;
                       # seven gallery files less the junk one
                       'reid/num_query': 2, 'reid/num_query_skipped': 1,
                       'reid/num_gallery': 6}


def test_train_dataloader_yields_identity_batches(tmp_path):
    root = write_market(tmp_path / 'Market-1501-v15.09.15')
    loader = Runner.build_dataloader(dict(
        batch_size=4, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='rga_mm.IdentityBatchSampler', num_instances=2),
        dataset=dict(type='rga_mm.Market1501', data_root=root, split='train',
                     pipeline=TRAIN_PIPELINE)), seed=0)
    (batch, ) = list(loader)
    assert [tuple(image.shape) for image in batch['inputs']] == [(3, 256, 128)] * 4
    labels = sorted(int(sample.gt_label) for sample in batch['data_samples'])
    assert labels == [0, 0, 1, 1]
