"""RGA after the stages of mmpretrain's own ImageNet ResNet-50 config, written as
docs/classification.md, "RGA in your own mmpretrain classifier", writes it, and the
mistakes a user makes on the way: the base's ResNet keys left in the wrapper, a block past
the stage's last, a wrong channel count or map size for the stage (paper §3: a module built
for one (C, h×w) map)."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.optim import OptimWrapper

from rga_mm.apis import init_model
from rga_mm.errors import ConfigError

ROOT = Path(__file__).parents[2]
DOC = ROOT / 'docs' / 'classification.md'
DELETE_LINE = re.compile(r'^ +_delete_=True,.*\n', re.M)


def documented_config() -> str:
    """The config block of the section "RGA in your own mmpretrain classifier"."""
    section = DOC.read_text().split('## RGA in your own mmpretrain classifier')[1]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def _batch(size: int) -> dict:
    """Two uint8 images of ``size``×``size`` with ImageNet labels, as a dataloader gives."""
    from mmpretrain.structures import DataSample
    return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                        for _ in range(2)],
                data_samples=[DataSample().set_gt_label(label) for label in (3, 999)])


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / 'resnet50_rga_8xb32_in1k.py'
    path.write_text(text)
    return str(path)


def test_the_documented_config_trains_a_step_on_mmpretrains_resnet50(tmp_path):
    text = documented_config()
    assert text.startswith("_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py']")
    model = init_model(_config(tmp_path, text))
    rga = model.backbone.attentions.layer4
    assert type(rga).__name__ == 'RGA' and rga.in_channels == 2048
    assert model.backbone.backbone.depth == 50 and model.head.fc.in_features == 2048

    model.train()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = rga.spatial_gate.theta.conv.weight.detach().clone()
    losses = model.train_step(_batch(224), optim_wrapper)
    assert torch.isfinite(losses['loss'])
    assert not torch.equal(before, rga.spatial_gate.theta.conv.weight)  # the loss reached RGA
    model.eval()
    with torch.no_grad():
        predictions = model.val_step(_batch(224))
    assert predictions[0].pred_score.shape == (1000, )


def test_without_delete_the_base_resnet_keys_are_refused_naming_them(tmp_path):
    text, count = DELETE_LINE.subn('', documented_config())
    assert count == 1
    with pytest.raises(ConfigError) as error:
        init_model(_config(tmp_path, text))
    assert str(error.value) == (
        "StageAttentionBackbone takes backbone, attentions and init_cfg, not ['depth', "
        "'num_stages', 'out_indices', 'style']: arguments of the wrapped backbone "
        "(mmpretrain.ResNet) go inside backbone=dict(...), and a config that turns an "
        "inherited model.backbone into the wrapper sets _delete_=True in it to drop the base "
        "config's backbone keys")


def test_a_block_past_the_stages_last_lists_the_blocks_it_has(tmp_path):
    """ResNet-50's layer4 has three bottlenecks, 0..2."""
    text = documented_config().replace("{'layer4':", "{'layer4.3':")
    with pytest.raises(ConfigError) as error:
        init_model(_config(tmp_path, text))
    assert str(error.value) == (
        "StageAttentionBackbone: ResNet has no stage named 'layer4.3'; its top-level "
        "submodules are ['conv1', 'bn1', "
        "'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4'], and those of layer4 are "
        "['0', '1', '2']")


@pytest.mark.parametrize('in_channels, size, message', [
    (512, 224, "RGA was built for 512 channels but the feature map has 2048 (shape (2, 2048, 7, "
               "7)); build it with in_channels=2048"),
    (2048, 512, 'RGA was built for a 7×7 map but received 16×16; build it with spatial_size='
                '(16, 16) or set variable_size=True to pool onto the 7×7 reference grid'),
])
def test_a_stage_map_the_attention_was_not_built_for_names_the_setting(tmp_path, in_channels,
                                                                       size, message):
    """A wrong in_channels (512: ResNet-18's layer4) and a 512×512 input (layer4 16×16 for an
    RGA built for 224×224's 7×7) stop the first forward naming the stage and the fix."""
    text = documented_config().replace('in_channels=2048', f'in_channels={in_channels}')
    model = init_model(_config(tmp_path, text))
    with pytest.raises(ConfigError) as error, torch.no_grad():
        model.val_step(_batch(size))
    assert str(error.value) == (
        f"StageAttentionBackbone stage 'layer4' (attentions['layer4']): {message}")
