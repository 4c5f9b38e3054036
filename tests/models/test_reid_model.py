"""The re-ID model of paper §4.1: BNNeck head, losses, modes, official weights."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from mmpretrain.structures import DataSample

from rga_mm.apis import CheckpointError, init_model
from rga_mm.engine.validation_size import meta_forward, meta_model_from_config
from rga_mm.errors import ConfigError
from rga_mm.models.reid import BatchHardTripletLoss, BNNeckHead
from rga_mm.registry import MODELS
from rga_mm.testing import load_script
from tiny_reid_model import TINY_MODEL

ROOT = Path(__file__).parents[2]
MARKET_RGA_SC = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'


def test_batch_hard_triplet_loss_by_hand():
    """Anchors on a line: ids [0, 0, 1, 1] at x = [0, 1, 3, 5], margin 0.3.
    hardest positive: 1, 1, 2, 2; hardest negative: 3, 2, 2, 4
    losses: max(0, 1-3+.3)=0, max(0, 1-2+.3)=0, max(0, 2-2+.3)=.3, max(0, 2-4+.3)=0."""
    features = torch.tensor([[0.], [1.], [3.], [5.]])
    loss = BatchHardTripletLoss(margin=0.3)(features, torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(loss, torch.tensor(0.3 / 4))


def test_triplet_loss_gradient_stays_finite_where_features_coincide():
    """Each anchor's distance to itself, and to a duplicate, is 0, where √ has an infinite
    slope: the squared distances are floored before the root, so training never sees NaN."""
    features = torch.tensor([[0., 1.], [0., 1.], [2., 0.], [3., 1.]], requires_grad=True)
    BatchHardTripletLoss(margin=0.3)(features, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(features.grad).all()


def test_triplet_loss_needs_two_identities():
    with pytest.raises(ValueError, match='at least two identities'):
        BatchHardTripletLoss()(torch.randn(4, 3), torch.tensor([2, 2, 2, 2]))


MARGIN_REFUSAL = ("BatchHardTripletLoss: margin is how much farther than the hardest "
                  "positive the hardest negative must be, a finite number of 0 or more, got "
                  "{}; set it to e.g. 0.3, the paper's margin")
WEIGHT_REFUSAL = ('BatchHardTripletLoss: loss_weight is the factor of the loss, a finite '
                  'number of 0 or more (below 0 training would maximise the loss), got {}; '
                  'set it to e.g. 1.0')


@pytest.mark.parametrize('margin, shown', [(-5, '-5'), ('0.3', "'0.3'"), (None, 'None'),
                                           (True, 'True'), (float('nan'), 'nan'),
                                           (float('inf'), 'inf')])
def test_triplet_loss_refuses_a_margin_that_is_no_number_of_0_or_more(margin, shown):
    """A negative margin trains another objective without a word; a string or None built
    and then stopped the first iteration with a bare TypeError."""
    with pytest.raises(ConfigError, match=f'^{re.escape(MARGIN_REFUSAL.format(shown))}$'):
        BatchHardTripletLoss(margin=margin)


@pytest.mark.parametrize('loss_weight, shown', [(-1, '-1'), ('1', "'1'"), (None, 'None'),
                                                (False, 'False'), (float('inf'), 'inf')])
def test_triplet_loss_refuses_a_weight_that_is_no_number_of_0_or_more(loss_weight, shown):
    """A negative weight makes training maximise the loss."""
    with pytest.raises(ConfigError, match=f'^{re.escape(WEIGHT_REFUSAL.format(shown))}$'):
        BatchHardTripletLoss(loss_weight=loss_weight)


def test_triplet_loss_takes_a_zero_margin_and_numbers_of_any_type():
    loss = BatchHardTripletLoss(margin=0, loss_weight=np.float32(0.5))
    assert (loss.margin, loss.loss_weight) == (0.0, 0.5)
    assert type(loss.loss_weight) is float
    features = torch.tensor([[0.], [1.], [3.], [5.]])
    torch.testing.assert_close(loss(features, torch.tensor([0, 0, 1, 1])), torch.tensor(0.))


IN_CHANNELS_REFUSAL = ("BNNeckHead: in_channels is the width C of the (B, C) pooled features "
                       "it takes, a positive int, got {}; set model.head.in_channels to the "
                       "channels of the backbone's last map (512 for ResNet-18, 2048 for "
                       "ResNet-50)")
NUM_CLASSES_REFUSAL = ('BNNeckHead: num_classes is the number of training identities (one '
                       'classifier output each), a positive int, got {}; set '
                       'model.head.num_classes to the number of identities in the training '
                       'data, as an int')


@pytest.mark.parametrize('value, shown', [(0, '0'), (-3, '-3'), ('60', "'60'"),
                                          (60.0, '60.0'), (True, 'True')])
def test_bnneck_head_refuses_sizes_that_are_no_positive_int(value, shown):
    """0 built an empty layer; '60' and 60.0 stopped in torch.empty with a TypeError."""
    with pytest.raises(ConfigError, match=f'^{re.escape(IN_CHANNELS_REFUSAL.format(shown))}$'):
        BNNeckHead(in_channels=value, num_classes=60)
    with pytest.raises(ConfigError, match=f'^{re.escape(NUM_CLASSES_REFUSAL.format(shown))}$'):
        BNNeckHead(in_channels=512, num_classes=value)


def test_bnneck_head_takes_numpy_sizes_as_ints():
    head = BNNeckHead(in_channels=np.int64(4), num_classes=np.int64(3))
    assert head.num_classes == 3 and type(head.num_classes) is int
    assert head.classifier.weight.shape == (3, 4)


@pytest.mark.parametrize('test_feature, fix', [
    ('postbn', "did you mean 'post_bn'?"),
    ('mean', "set model.head.test_feature to 'post_bn' (the default) or 'pre_bn'"),
    (None, "set model.head.test_feature to 'post_bn' (the default) or 'pre_bn'")])
def test_bnneck_head_names_itself_and_the_fix_for_an_unknown_test_feature(test_feature, fix):
    message = ("BNNeckHead: test_feature (model.head.test_feature) is the embedding "
               "evaluated, 'pre_bn' (before the BatchNorm) or 'post_bn' (after it), got "
               f"{test_feature!r}; {fix}")
    with pytest.raises(ConfigError, match=f'^{re.escape(message)}$'):
        BNNeckHead(in_channels=4, num_classes=3, test_feature=test_feature)


WIDTH_REFUSAL = ('BNNeckHead was built for pooled features of 8 channels '
                 '(model.head.in_channels=8) but the backbone and neck give it 4: set '
                 'model.head.in_channels=4')


def test_bnneck_head_names_in_channels_for_features_of_another_width():
    """PyTorch's BatchNorm said only 'running_mean should contain 4 elements not 8'."""
    head = BNNeckHead(in_channels=8, num_classes=3)
    pooled, labels = torch.randn(4, 4), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ConfigError, match=f'^{re.escape(WIDTH_REFUSAL)}$'):
        head.loss(pooled, labels)
    with pytest.raises(ConfigError, match=f'^{re.escape(WIDTH_REFUSAL)}$'):
        head.eval().embed(pooled)
    with pytest.raises(ConfigError, match=f'^{re.escape(WIDTH_REFUSAL)}$'):
        head.to('meta')(pooled.to('meta'))  # as the pre-training checks run it


def test_a_model_whose_head_misses_the_backbone_width_is_refused_on_the_meta_device():
    """The pre-training checks run the model on the meta device: the head's sentence, not a
    BatchNorm error, is what they see."""
    cfg = dict(TINY_MODEL, head=dict(TINY_MODEL['head'], in_channels=2048))
    model = meta_model_from_config(cfg)
    message = ('BNNeckHead was built for pooled features of 2048 channels '
               '(model.head.in_channels=2048) but the backbone and neck give it 512: '
               'set model.head.in_channels=512')
    with pytest.raises(ConfigError, match=f'^{re.escape(message)}$'):
        meta_forward(model, dict(inputs=torch.empty(1, 3, 64, 32, device='meta')))


def test_bnneck_head_layers_and_losses():
    head = BNNeckHead(in_channels=64, num_classes=10)
    assert not head.feat_bn.bias.requires_grad and head.classifier.bias is None
    assert 0.0005 < head.classifier.weight.std() < 0.0015
    pooled = torch.randn(8, 64)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    losses = head.loss(pooled, labels)
    # label smoothing 0.1 over 10 classes: CE against (0.9 + 0.01) on the true class
    logits = head.classifier(head.feat_bn(pooled))
    smooth = torch.full((8, 10), 0.01).scatter_(1, labels[:, None], 0.91)
    expected_ce = -(smooth * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(losses['loss_cls'], expected_ce)
    torch.testing.assert_close(losses['loss_triplet'],
                               BatchHardTripletLoss(0.3)(pooled, labels))
    with pytest.raises(ValueError, match='label 12 is out of range for a classifier of 10'):
        head.loss(pooled, labels + 11)


@pytest.mark.parametrize('test_feature', ['pre_bn', 'post_bn'])
def test_model_modes(test_feature):
    cfg = dict(TINY_MODEL, head=dict(TINY_MODEL['head'], test_feature=test_feature))
    model = MODELS.build(cfg).eval()
    images = torch.randn(2, 3, 64, 32)
    embeddings = model(images, mode='tensor')
    pooled = model.pooled_features(images)
    expected = pooled if test_feature == 'pre_bn' else model.head.feat_bn(pooled)
    torch.testing.assert_close(embeddings, expected)
    samples = model(images, [DataSample(), DataSample()], mode='predict')
    torch.testing.assert_close(torch.stack([s.pred_feature for s in samples]), embeddings)

    model.train()
    samples = [DataSample().set_gt_label(i // 2) for i in range(4)]
    captured = {}
    hooks = [model.head.feat_bn.register_forward_hook(
                 lambda module, args, out: captured.update(pooled=args[0].detach())),
             model.head.classifier.register_forward_hook(
                 lambda module, args, out: captured.update(logits=out.detach()))]
    losses = model(torch.randn(4, 3, 64, 32), samples, mode='loss')
    for hook in hooks:
        hook.remove()
    assert set(losses) == {'loss_cls', 'loss_triplet', 'accuracy'}
    # the losses from their definitions, on the model's own pooled features and logits
    labels = torch.tensor([0, 0, 1, 1])
    pooled, logits = captured['pooled'].double(), captured['logits'].double()
    num_classes, smoothing = logits.shape[1], 0.1  # LabelSmoothLoss, mode='original'
    target = torch.full_like(logits, smoothing / num_classes)
    target[torch.arange(4), labels] += 1 - smoothing
    expected_cls = -(target * (logits - logits.exp().sum(1, keepdim=True).log())).sum(1).mean()
    triplet_terms = []
    for a in range(4):
        distances = [float(((pooled[a] - pooled[b]) ** 2).sum().sqrt()) for b in range(4)]
        hardest_positive = max(d for b, d in enumerate(distances) if labels[b] == labels[a])
        hardest_negative = min(d for b, d in enumerate(distances) if labels[b] != labels[a])
        triplet_terms.append(max(0.0, hardest_positive - hardest_negative + 0.3))
    assert float(losses['loss_cls']) == pytest.approx(float(expected_cls), rel=1e-5)
    assert float(losses['loss_triplet']) == pytest.approx(sum(triplet_terms) / 4, rel=1e-5,
                                                          abs=1e-6)
    hits = sum(int(logits[i].argmax()) == int(labels[i]) for i in range(4))
    assert float(losses['accuracy']) == hits / 4
    with pytest.raises(ValueError, match='built for a 4×2 map but received 2×1'):
        model(torch.randn(4, 3, 32, 16), samples, mode='loss')


def test_missing_imagenet_checkpoint_is_named(tmp_path):
    cfg = dict(TINY_MODEL)
    cfg['backbone'] = dict(TINY_MODEL['backbone'], backbone=dict(
        TINY_MODEL['backbone']['backbone'],
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'resnet18.pth'))))
    model = MODELS.build(cfg)
    with pytest.raises(FileNotFoundError, match='ImageNet checkpoint .*resnet18.pth does not '
                                                "exist: put torchvision's ResNet weights there, "
                                                'point'):
        model.init_weights()
    # the official code's file, named as torchvision's server names it: where to get it
    official = tmp_path / 'resnet50-19c8e357.pth'
    model.backbone.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(official))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"ImageNet checkpoint {official} does not exist: put torchvision's ResNet weights "
            f'there (from https://download.pytorch.org/models/resnet50-19c8e357.pth), point')):
        model.init_weights()


def test_a_missing_relative_imagenet_checkpoint_names_the_working_folder(tmp_path, monkeypatch):
    cfg = dict(TINY_MODEL)
    cfg['backbone'] = dict(TINY_MODEL['backbone'], backbone=dict(
        TINY_MODEL['backbone']['backbone'],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet18.pth')))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'ImageNet checkpoint checkpoints/resnet18.pth does not exist (relative to '
            f'{tmp_path}): put')):
        MODELS.build(cfg).init_weights()


@pytest.mark.parametrize('written', ['absolute', 'from ~'])
def test_imagenet_weights_load_from_a_torchvision_checkpoint(tmp_path, written, monkeypatch):
    """A path from the home folder ('~/...') is expanded as mmengine expands it to load."""
    reference = torchvision.models.resnet18()
    path = tmp_path / 'resnet18.pth'
    torch.save(reference.state_dict(), path)
    monkeypatch.setenv('HOME', str(tmp_path))
    checkpoint = str(path) if written == 'absolute' else '~/resnet18.pth'
    cfg = dict(TINY_MODEL)
    cfg['backbone'] = dict(TINY_MODEL['backbone'], backbone=dict(
        TINY_MODEL['backbone']['backbone'],
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
    model = MODELS.build(cfg)
    model.init_weights()
    ours = model.backbone.backbone.state_dict()
    for key, value in reference.state_dict().items():
        if not key.startswith('fc.'):
            assert torch.equal(ours[key], value), key


def test_official_checkpoint_lands_in_the_reid_model(tmp_path):
    """A synthetic checkpoint in the official ResNet50_RGA_Model format, converted by the
    tool, fills every tensor of the Market-1501 RGA-SC model."""
    converter = load_script(ROOT / 'tools/model_converters/rga_official_to_mm.py', 'converter')
    from test_official_weights import official_rga_state

    official = {f'backbone.{k}': torch.randn_like(v.float()).to(v.dtype)
                for k, v in torchvision.models.resnet50().state_dict().items()
                if not k.startswith('fc.')}
    for stage, (channels, nodes) in enumerate(((256, 2048), (512, 512), (1024, 128),
                                               (2048, 128)), start=1):
        for key, value in official_rga_state(channels, nodes).items():
            official[f'backbone.rga_att{stage}.{key}'] = value
    for leaf in ('weight', 'bias', 'running_mean', 'running_var'):
        official[f'feat_bn.{leaf}'] = torch.randn(2048)
    official['feat_bn.num_batches_tracked'] = torch.tensor(3)
    official['cls.weight'] = torch.randn(751, 2048)
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'converted.pth'
    torch.save({'state_dict': official}, src)
    torch.save({'state_dict': converter.convert_official_reid(official)}, dst)
    with pytest.raises(CheckpointError, match=re.escape(  # unconverted: told to convert it
            f'it is a checkpoint of the official RGA code: convert it first with python '
            f'tools/model_converters/rga_official_to_mm.py {src} CONVERTED.pth')):
        init_model(MARKET_RGA_SC, checkpoint=str(src))

    model = init_model(MARKET_RGA_SC, checkpoint=str(dst))
    state = model.state_dict()
    assert len(state) == len(official)
    converted = converter.convert_official_reid(official)
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
