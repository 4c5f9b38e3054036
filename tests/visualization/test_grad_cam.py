"""Issue 8, item 4: the CAM and the recorded RGA gates are the quantities they claim to be.

* ``class_activation_map`` against the two formulas written out by hand (Grad-CAM,
  Selvaraju et al. 2017; LayerCAM, Jiang et al. 2021);
* a re-ID model whose head reads only the top half of the last feature map, so only the
  top of the image can change the output: the CAM is zero outside that region and, once
  upsampled to the image, strongest inside it;
* the recorded gate of each RGA module equals ``RGA.spatial_attention`` of its input
  (paper Eq. 5), also in the CS mode where the gate is taken after channel attention.
"""
import pytest
import torch
from mmengine.config import Config
from torch import nn

from rga_mm.models import RGA
from rga_mm.registry import MODELS
from rga_mm.visualization import SpatialGateRecorder, class_activation_map, explain_attention
from rga_mm.visualization.attention_visualizer import upsample_map

DEMO_CONFIG = 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def test_channel_weighting_is_grad_cam():
    activations = torch.tensor([[[[1., 2.], [0., 1.]], [[3., 0.], [1., 1.]]]])
    gradients = torch.tensor([[[[1., 1.], [1., -1.]], [[-2., 0.], [0., -2.]]]])
    # channel weights: mean gradients 0.5 and -1.0
    expected = torch.tensor([[[max(0., 0.5 * 1 - 3.), max(0., 0.5 * 2 - 0.)],
                              [max(0., 0.5 * 0 - 1.), max(0., 0.5 * 1 - 1.)]]])
    assert torch.equal(class_activation_map(activations, gradients, 'channel'), expected)


def test_element_weighting_is_layer_cam():
    activations = torch.tensor([[[[1., 2.], [0., 1.]], [[3., 0.], [1., 1.]]]])
    gradients = torch.tensor([[[[1., 1.], [1., -1.]], [[-2., 0.], [0., -2.]]]])
    # positive gradients only, position by position
    expected = torch.tensor([[[1. * 1 + 0., 1. * 2 + 0.], [1. * 0 + 0., 0. + 0.]]])
    assert torch.equal(class_activation_map(activations, gradients, 'element'), expected)


def test_unknown_weighting_is_refused():
    with pytest.raises(ValueError, match="weighting must be one of"):
        class_activation_map(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), 'mean')


class TopHalfPooling(nn.Module):
    """Average only the top half of the last map: the bottom of the image cannot matter."""

    def forward(self, features):
        last = features[-1] if isinstance(features, tuple) else features
        return (last[:, :, :last.shape[2] // 2].mean(dim=(2, 3)),)


@pytest.fixture(scope='module')
def top_half_reid_model():
    """The demo's ResNet-18 + 4 RGA-SC re-ID model (64×32 input, 4×2 last map) with the
    pooling replaced by :class:`TopHalfPooling`; random weights, eval mode."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    model.neck = TopHalfPooling()
    return model.eval()


def test_cam_is_strongest_where_the_output_is_read(top_half_reid_model):
    torch.manual_seed(1)
    images = torch.randn(3, 3, 64, 32)
    for explanation in explain_attention(top_half_reid_model, images):
        cam = explanation.cam
        assert cam.shape == (4, 2)
        assert explanation.cam_target == 'embedding norm'
        # no gradient reaches the bottom half, so the (LayerCAM) map is exactly 0 there
        assert torch.all(cam[2:] == 0) and cam[:2].max() > 0
        upsampled = upsample_map(cam, (64, 32))[0]
        assert int(upsampled.flatten().argmax()) // 32 < 32  # the peak is in the top half
        assert upsampled[:24].mean() > 10 * upsampled[40:].mean()


def test_cam_of_a_class_logit_is_explained_per_image(top_half_reid_model):
    torch.manual_seed(2)
    images = torch.randn(2, 3, 64, 32)
    single = [explain_attention(top_half_reid_model, image[None])[0] for image in images]
    batch = explain_attention(top_half_reid_model, images)
    for alone, together in zip(single, batch):
        torch.testing.assert_close(alone.cam, together.cam)
        for name in alone.gates:
            torch.testing.assert_close(alone.gates[name], together.gates[name])


def test_explain_refuses_a_model_in_training_mode(top_half_reid_model):
    top_half_reid_model.train()
    try:
        with pytest.raises(ValueError, match='eval mode'):
            explain_attention(top_half_reid_model, torch.randn(1, 3, 64, 32))
    finally:
        top_half_reid_model.eval()


@pytest.mark.parametrize('mode', ['S', 'SC', 'CS', 'S//C'])
def test_recorded_gate_is_the_applied_spatial_attention(mode):
    rga = RGA(16, (6, 4), mode=mode, reduction=2, gate_reduction=2).eval()
    x = torch.randn(2, 16, 6, 4)
    with torch.no_grad(), SpatialGateRecorder(nn.Sequential(rga)) as recorder:
        rga(x)
        gate_input = x * rga.channel_attention(x) if mode == 'CS' else x
        expected = rga.spatial_attention(gate_input)
    assert list(recorder.gates) == ['0']
    torch.testing.assert_close(recorder.gates['0'], expected)
    assert recorder.gates['0'].shape == (2, 1, 6, 4)


def test_channel_only_rga_has_no_spatial_gate():
    model = nn.Sequential(RGA(16, (6, 4), mode='C', reduction=2, gate_reduction=2))
    with SpatialGateRecorder(model) as recorder:
        model.eval()(torch.randn(1, 16, 6, 4))
    assert recorder.gates == {}


def test_cam_layer_by_name_and_unknown_name(top_half_reid_model):
    images = torch.randn(1, 3, 64, 32)
    layer3 = explain_attention(top_half_reid_model, images,
                               cam_layer='backbone.backbone.layer3')[0]
    assert layer3.cam.shape == (4, 2)  # ResNet-18 layer3 at stride 16, last stride 1
    layer2 = explain_attention(top_half_reid_model, images,
                               cam_layer='backbone.backbone.layer2')[0]
    assert layer2.cam.shape == (8, 4)
    with pytest.raises(ValueError, match="no submodule 'backbone.layer9'.*top-level"):
        explain_attention(top_half_reid_model, images, cam_layer='backbone.layer9')
