"""mmpretrain's own ``ImageClassificationInferencer`` on an rga_mm CIFAR config (paper §4.3):
given RGB arrays, as the CIFAR batches hold them, it scores exactly what ``tools/test.py``
scores; given a path it reads BGR (docs/classification.md, "Predict on your own images")."""
from pathlib import Path

import mmcv
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from rga_mm.apis import init_model
from cifar_files import write_cifar

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'


def test_the_inferencer_scores_rgb_arrays_as_the_test_loop_does(tmp_path):
    from mmpretrain.apis import ImageClassificationInferencer
    from mmpretrain.registry import DATASETS

    data_root = write_cifar(tmp_path / 'cifar10', 10, num_train=10, num_test=2)
    config = tmp_path / 'resnet20_rga-sc_cifar10.py'
    config.write_text(f"_base_ = ['{CONFIG}']\n"
                      "model = dict(backbone=dict(backbone=dict(depth=20)))\n"
                      f"test_dataloader = dict(dataset=dict(data_root='{data_root}', "
                      "verify_md5=False))\n")
    torch.manual_seed(0)
    model = init_model(str(config), None, device='cpu')
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(Config.fromfile(str(config)).test_dataloader.dataset)
    checkpoint = tmp_path / 'iter_64000.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': dataset.metainfo}}, checkpoint)

    with torch.no_grad():
        scored = model.test_step(pseudo_collate([dataset[0]]))[0].pred_score
    inferencer = ImageClassificationInferencer(str(config), pretrained=str(checkpoint),
                                               device='cpu')
    rgb = dataset.get_data_info(0)['img']  # (32, 32, 3) uint8, RGB
    predicted, = inferencer(rgb)
    torch.testing.assert_close(torch.as_tensor(predicted['pred_scores']), scored)

    path = tmp_path / 'test_0.png'
    mmcv.imwrite(rgb[..., ::-1], str(path), auto_mkdir=False)  # the picture, as a user's file
    from_path, = inferencer(str(path))
    assert not torch.allclose(torch.as_tensor(from_path['pred_scores']), scored)
    swapped, = inferencer(rgb[..., ::-1].copy())
    torch.testing.assert_close(torch.as_tensor(from_path['pred_scores']),
                               torch.as_tensor(swapped['pred_scores']))
