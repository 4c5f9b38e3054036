"""The paper's re-ID network shapes (§4.1.1), run once at full size."""
import pytest
import torch

from rga_mm.apis import init_model
from rga_mm.models.attention import RGA
from official_params import official_param_count

CONFIG = 'configs/_base_/models/reid_r50-ls1_rga-sc-256x128.py'


@pytest.mark.slow
def test_resnet50_rga_sc_at_256x128():
    model = init_model(CONFIG)
    modules = [model.backbone.attentions[f'layer{i}'] for i in range(1, 5)]
    assert [(m.in_channels, m.spatial_size) for m in modules] == [
        (256, (64, 32)), (512, (32, 16)), (1024, (16, 8)), (2048, (16, 8))]
    for module in modules:
        assert isinstance(module, RGA) and module.mode == 'SC'
        height, width = module.spatial_size
        assert sum(p.numel() for p in module.parameters()) == official_param_count(
            module.in_channels, height * width)
    with torch.no_grad():
        feature, = model.backbone(torch.randn(1, 3, 256, 128))
        embedding = model(torch.randn(2, 3, 256, 128), mode='tensor')
    assert feature.shape == (1, 2048, 16, 8)
    assert embedding.shape == (2, 2048)
