"""mmseg's own ``MMSegInferencer`` on an rga_mm Cityscapes config (paper §4.2): a trained
RGA segmentor predicts on one's own images, of any size, exactly what ``tools/test.py``
scores (docs/segmentation.md, "Predict on your own images")."""
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from rga_mm.apis import init_model
from tiny_cityscapes import write_tiny_setup


def test_mmseg_inferencer_predicts_what_the_test_loop_scores(tmp_path):
    from mmseg.apis import MMSegInferencer
    from mmseg.registry import DATASETS

    data_root, config = write_tiny_setup(tmp_path)
    torch.manual_seed(0)
    model = init_model(str(config), None, device='cpu')
    cfg = Config.fromfile(str(config))
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    checkpoint = tmp_path / 'iter_2.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': dataset.metainfo}}, checkpoint)

    with torch.no_grad():
        scored = model.test_step(pseudo_collate([dataset[0]]))[0].pred_sem_seg.data
    inferencer = MMSegInferencer(model=str(config), weights=str(checkpoint), device='cpu')
    image = dataset.get_data_info(0)['img_path']
    predicted = inferencer(image, return_datasamples=True).pred_sem_seg.data
    assert predicted.shape == scored.shape == (1, 64, 128)
    assert torch.equal(predicted, scored)

    # an image of another size and aspect ratio: the neck's RoIAlign reference grid takes it
    other = np.random.default_rng(0).integers(0, 256, (100, 180, 3), dtype=np.uint8)
    predicted = inferencer(other, return_datasamples=True).pred_sem_seg.data
    assert predicted.shape == (1, 100, 180) and int(predicted.max()) < 19
