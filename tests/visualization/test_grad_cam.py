"""The CAM and the recorded RGA gates are the quantities they claim to be.

* ``class_activation_map`` against the two formulas written out by hand (Grad-CAM,
  Selvaraju et al. 2017; LayerCAM, Jiang et al. 2021);
* a re-ID model that zeroes the bottom half of its input image and pools only the top half
  of its last feature map, so only the top half of the image can change the output: the
  (LayerCAM) map is zero outside that region and, once upsampled to the image, strongest
  inside it;
* the score a CAM explains: the predicted (or a chosen) class of a CIFAR classifier, and the
  class predicted on most pixels of a segmentation-like model (a chosen class that no pixel
  is predicted as: its mean logit over all pixels, which its target text says);
* the recorded gate of each RGA module equals ``RGA.spatial_attention`` of its input
  (paper Eq. 5), also in the CS mode where the gate is taken after channel attention.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from rga_mm.models import RGA
from rga_mm.registry import MODELS
from rga_mm.visualization import SpatialGateRecorder, class_activation_map, explain_attention
from rga_mm.visualization.attention_visualizer import upsample_map

DEMO_CONFIG = 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
CIFAR_CONFIG = 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'


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
    """Average only the top half of the last feature map."""

    def forward(self, features):
        last = features[-1] if isinstance(features, tuple) else features
        return (last[:, :, :last.shape[2] // 2].mean(dim=(2, 3)),)


def zero_bottom_half(backbone: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: the backbone sees the top half of the image only."""
    images = args[0].clone()
    images[:, :, images.shape[2] // 2:] = 0
    return (images,)


@pytest.fixture(scope='module')
def top_half_reid_model():
    """The demo's ResNet-18 + 4 RGA-SC re-ID model (64×32 input, 4×2 last map) that
    zeroes the bottom half of the image and pools the top half of the last map (RGA's
    global relations would otherwise carry bottom pixels into every position); random
    weights, eval mode."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    model.backbone.register_forward_pre_hook(zero_bottom_half)
    model.neck = TopHalfPooling()
    return model.eval()


def test_only_the_top_half_of_the_image_changes_the_output(top_half_reid_model):
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 32)
    changed = images.clone()
    changed[:, :, 32:] = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(top_half_reid_model(images), top_half_reid_model(changed),
                                   rtol=0, atol=0)
        changed[:, :, :32] += 1
        assert not torch.allclose(top_half_reid_model(images), top_half_reid_model(changed))


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
        assert upsampled[:32].sum() > 10 * upsampled[32:].sum()  # only bilinear bleed below


def test_a_batch_is_explained_image_by_image(top_half_reid_model):
    torch.manual_seed(2)
    images = torch.randn(2, 3, 64, 32)
    single = [explain_attention(top_half_reid_model, image[None])[0] for image in images]
    batch = explain_attention(top_half_reid_model, images)
    for alone, together in zip(single, batch):
        torch.testing.assert_close(alone.cam, together.cam)
        for name in alone.gates:
            torch.testing.assert_close(alone.gates[name], together.gates[name])


@pytest.fixture(scope='module')
def cifar_classifier():
    """CIFAR-10 ResNet-20 + RGA-SC after layer1 (mmpretrain ImageClassifier), random."""
    cfg = Config.fromfile(CIFAR_CONFIG)
    cfg.model.backbone.backbone.depth = 20
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


def cams_by_hand(model: nn.Module, layer: nn.Module, images: torch.Tensor,
                 classes: list[int]) -> dict[str, torch.Tensor]:
    """(B, h, w) LayerCAM and Grad-CAM of logit ``classes[i]`` of image i, written out from
    the papers with hooks of our own: A is the last map ``layer`` outputs, G_i = ∂y_i/∂A_i
    of the pre-softmax class score y_i alone;
    Grad-CAM = ReLU(Σ_c mean_hw(G_c) · A_c), LayerCAM = ReLU(Σ_c ReLU(G_c) ⊙ A_c), both at
    A's size, neither normalised nor upsampled (as ``explain_attention`` documents)."""
    outputs = []
    handle = layer.register_forward_hook(lambda module, args, output: outputs.append(
        output[-1] if isinstance(output, tuple) else output))
    try:
        logits = model(images, mode='tensor')
    finally:
        handle.remove()
    activations, = outputs
    layer_cams, grad_cams = [], []
    for index, k in enumerate(classes):
        gradients = torch.autograd.grad(logits[index, k], activations,
                                        retain_graph=True)[0][index]
        a = activations[index].detach()
        layer_cams.append((gradients.clamp(min=0) * a).sum(dim=0).clamp(min=0))
        alpha = gradients.mean(dim=(1, 2))  # Grad-CAM's α_c: gradients pooled over h × w
        grad_cams.append((alpha[:, None, None] * a).sum(dim=0).clamp(min=0))
    return {'element': torch.stack(layer_cams), 'channel': torch.stack(grad_cams)}


def assert_same_cam(cams: list[torch.Tensor], expected: torch.Tensor) -> None:
    """The tool's maps equal the hand-made ones up to float32 rounding: 1e-5 relative, and
    1e-5 of each map's peak absolute (a position whose Σ_c nearly cancels has a large
    relative but a tiny absolute rounding error); and they are not trivially zero."""
    for cam, by_hand in zip(cams, expected):
        assert by_hand.max() > 0
        torch.testing.assert_close(cam, by_hand, rtol=1e-5, atol=1e-5 * float(by_hand.max()))


def test_classification_cam_explains_the_predicted_or_chosen_class(cifar_classifier):
    torch.manual_seed(3)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        predicted = cifar_classifier(images, mode='tensor').argmax(dim=1).tolist()
    explanations = explain_attention(cifar_classifier, images)
    assert [e.cam_target for e in explanations] == [f'class {k}' for k in predicted]
    assert [list(e.gates) for e in explanations] == [['layer1']] * 4
    assert all(e.gates['layer1'].shape == (32, 32) for e in explanations)
    assert all(e.cam.shape == (8, 8) for e in explanations)  # the last stage, stride 4
    # the default CAM layer is the backbone (the GAP neck outputs no map): its last map,
    # differentiated for the predicted class's logit, LayerCAM by default
    by_hand = cams_by_hand(cifar_classifier, cifar_classifier.backbone, images, predicted)
    assert_same_cam([e.cam for e in explanations], by_hand['element'])
    grad_cam = explain_attention(cifar_classifier, images, weighting='channel')
    assert_same_cam([e.cam for e in grad_cam], by_hand['channel'])
    chosen = explain_attention(cifar_classifier, images, target_class=3)
    assert [e.cam_target for e in chosen] == ['class 3'] * 4
    assert_same_cam([e.cam for e in chosen],
                    cams_by_hand(cifar_classifier, cifar_classifier.backbone, images,
                                 [3] * 4)['element'])
    with pytest.raises(ValueError, match="^target_class 10 is outside the model's 10 classes: "
                                         "give one from 0 to 9$"):
        explain_attention(cifar_classifier, images, target_class=10)


class PixelClassifier(nn.Module):
    """A segmentor-shaped model: ``backbone`` is a 1×1 conv whose 3 output maps are the
    logits of 3 classes, so every pixel's class is the argmax of its input channels."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 3, 1, bias=False)
        nn.init.eye_(self.backbone.weight[:, :, 0, 0])

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.backbone(inputs)


def test_segmentation_cam_explains_the_class_on_most_pixels():
    model = PixelClassifier().eval()
    image = torch.zeros(1, 3, 4, 4)
    image[0, 2, :, 1:] = 1.0  # class 2 on 12 pixels
    image[0, 0, :, :1] = 2.0  # class 0 on the 4 pixels of the left column
    explanation, = explain_attention(model, image)
    assert explanation.cam_target == 'class 2'
    # d(mean class-2 logit over its 12 pixels)/d(A_2) = 1/12 there, 0 elsewhere
    expected = torch.zeros(4, 4)
    expected[:, 1:] = 1.0 / 12
    torch.testing.assert_close(explanation.cam, expected)
    column, = explain_attention(model, image, target_class=0)
    assert column.cam_target == 'class 0'
    expected = torch.zeros(4, 4)
    expected[:, :1] = 2.0 / 4
    torch.testing.assert_close(column.cam, expected)


def test_a_class_no_pixel_is_predicted_as_is_explained_over_all_pixels_and_says_so():
    """Class 1 wins no pixel: its CAM explains its mean logit over all 16 pixels, and the
    target says so, naming the class where the model's dataset_meta gives names."""
    model = PixelClassifier().eval()
    image = torch.zeros(1, 3, 4, 4)
    image[0, 2, :, 1:] = 1.0
    image[0, 0, :, :1] = 2.0
    image[0, 1] = 0.5  # class 1's logit everywhere, below the winner's
    unseen, = explain_attention(model, image, target_class=1)
    assert unseen.cam_target == 'class 1 (no pixel predicted as it: mean over all pixels)'
    torch.testing.assert_close(unseen.cam, torch.full((4, 4), 0.5 / 16))
    model.dataset_meta = dict(classes=('road', 'sidewalk', 'building'))
    named, = explain_attention(model, image, target_class=1)
    assert named.cam_target == ('class 1 (sidewalk; no pixel predicted as it: mean over all '
                                'pixels)')
    assert explain_attention(model, image)[0].cam_target == 'class 2 (building)'
    model.dataset_meta = dict(classes=('road', 'sidewalk'))  # not one name per class
    assert explain_attention(model, image)[0].cam_target == 'class 2'


def test_a_cam_layer_that_the_score_does_not_read_is_named():
    model = PixelClassifier().eval()
    model.unused = nn.Conv2d(3, 3, 1)
    model.forward = lambda inputs, data_samples=None, mode='tensor': (
        model.unused(inputs), model.backbone(inputs))[1]
    with pytest.raises(ValueError, match='does not depend on the last output map of the CAM '
                                         'target layer Conv2d'):
        explain_attention(model, torch.randn(1, 3, 4, 4), cam_layer='unused')


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
    for empty in ('', ' '):  # get_submodule('') would give the whole model
        with pytest.raises(ValueError, match=f"the CAM layer name '{empty}' is empty"):
            explain_attention(top_half_reid_model, images, cam_layer=empty)
