"""What a model attends to on a batch: RGA spatial gates and a class activation map.

One entry point for the three tasks. The model's ``forward(inputs, mode='tensor')`` output
decides the score the CAM explains:

* re-ID (:class:`rga_mm.models.ReIDModel`, a (B, D) embedding): the embedding's L2 norm;
* classification (mmpretrain ``ImageClassifier``, (B, K) logits): the logit of
  ``target_class``, default the predicted class;
* segmentation (mmseg segmentors, (B, K, h, w) logits): the mean logit of ``target_class``
  over the pixels predicted as that class, default the class predicted on most pixels; when
  no pixel is predicted as it, its mean logit over all pixels, which the explanation's
  ``cam_target`` says (:data:`NOT_PREDICTED`).

A class is named by its number, and by its name too where the model's ``dataset_meta`` lists
one per class (the ``classes`` of the dataset it was trained on, which a Runner's checkpoint
saves). A target class is refused for a re-ID model: its embedding has no classes to choose
from.
"""
from dataclasses import dataclass, field
from typing import Any

import torch
from mmengine.dataset import pseudo_collate
from torch import Tensor, nn

from rga_mm.errors import ConfigError
from rga_mm.models.reid import ReIDModel
from rga_mm.models.unwrap import model_of
from .grad_cam import GradCAM
from .spatial_gates import SpatialGateRecorder, display_name

# CAM target tried first to last when none is given: the neck when it outputs a map (mmseg
# RGANeck), else the backbone's last map (after the last RGA in re-ID and CIFAR models)
DEFAULT_CAM_TARGETS = ('neck', 'backbone')
# what a segmentation CAM explains instead when no pixel is predicted as the target class
NOT_PREDICTED = 'no pixel predicted as it: mean over all pixels'


@dataclass
class AttentionExplanation:
    """What one image's forward pass attended to.

    Attributes:
        gates: RGA module title → (H, W) spatial gate in (0, 1), at its feature map's size.
        cam: (h, w) non-negative class activation map at the target layer's size.
        cam_target: what the CAM explains, e.g. ``'embedding norm'``, ``'class 3'`` or
            ``'class 2 (building; no pixel predicted as it: mean over all pixels)'``
            (module docstring).
    """
    gates: dict[str, Tensor] = field(default_factory=dict)
    cam: Tensor | None = None
    cam_target: str = ''


def cam_layer_candidates(model: nn.Module, layer: str | None) -> list[nn.Module]:
    """The module named ``layer`` (a dotted path), or those of ``DEFAULT_CAM_TARGETS`` the
    model has, in order of preference (:class:`GradCAM` takes the first that outputs a
    map); an empty name (which ``get_submodule`` reads as the whole model) is refused."""
    if layer is None:
        return [getattr(model, name) for name in DEFAULT_CAM_TARGETS
                if isinstance(getattr(model, name, None), nn.Module)]
    if not layer.strip():
        raise ValueError(f'the CAM layer name {layer!r} is empty: give a dotted submodule '
                         "name such as 'backbone.layer4', or none for the default")
    try:
        return [model.get_submodule(layer)]
    except AttributeError:
        top_level = [name for name, _ in model.named_children()]
        raise ValueError(f'the model has no submodule {layer!r} for the CAM; its top-level '
                         f'submodules are {top_level}') from None


def check_target_class(model: nn.Module, target_class: int | None,
                       name: str = 'target_class') -> None:
    """Refuse, in one sentence naming ``name``, the option that gave it, a ``target_class``
    for a model without classes (a re-ID model, whose CAM explains the embedding norm) and
    one outside the classes of a model whose head says how many it has (mmpretrain's
    ``head.num_classes``, mmseg's ``decode_head.out_channels``), before any image runs;
    ``None`` passes, and so does any class for other models (their output tells how many
    classes they have, see :func:`explain_attention`)."""
    if target_class is None:
        return
    if isinstance(model_of(model), ReIDModel):
        raise ConfigError(f'{name} {target_class} is for classification and segmentation '
                          f'models, but this re-ID model has no classes (its CAM explains the '
                          f'embedding norm): leave {name} out')
    num_classes = head_class_count(model_of(model))
    if num_classes is not None and not 0 <= target_class < num_classes:
        raise ConfigError(class_range_refusal(target_class, num_classes, name))


def head_class_count(model: nn.Module) -> int | None:
    """The classes a classifier's or segmentor's head scores (mmpretrain's
    ``head.num_classes``, mmseg's ``decode_head.out_channels``), or None."""
    for head, attribute in (('head', 'num_classes'), ('decode_head', 'out_channels')):
        count = getattr(getattr(model, head, None), attribute, None)
        if isinstance(count, int):
            return count
    return None


def class_range_refusal(target_class: int, num_classes: int, name: str) -> str:
    """The sentence for a ``target_class`` (given as ``name``) outside ``num_classes``."""
    return (f'{name} {target_class} is outside the model\'s {num_classes} classes: give one '
            f'from 0 to {num_classes - 1}')


def class_names(model: nn.Module, num_classes: int) -> list[str] | None:
    """The name of each of the model's ``num_classes`` classes from its ``dataset_meta``
    (``classes``, as mmseg's and mmpretrain's ``init_model`` and
    :func:`rga_mm.apis.init_model` set it from a checkpoint); ``None`` when it gives none,
    or not one per class."""
    names = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    return list(names) if names is not None and len(names) == num_classes else None


def class_target(chosen: int, names: list[str] | None, predicted: bool = True) -> str:
    """What a CAM of class ``chosen`` explains, in words: ``'class 2'``, with its name and
    :data:`NOT_PREDICTED` in brackets where they apply (``'class 2 (building)'``)."""
    notes = []
    if names:
        notes.append(names[chosen])
    if not predicted:
        notes.append(NOT_PREDICTED)
    return f'class {chosen} ({"; ".join(notes)})' if notes else f'class {chosen}'


def _segmentation_score(logits: Tensor, target_class: int | None) -> tuple[Tensor, int, bool]:
    """(K, h, w) logits of one image → (the score the CAM explains, the class it explains,
    whether any pixel is predicted as that class); module docstring."""
    predicted = logits.argmax(dim=0)
    chosen = int(predicted.flatten().mode().values) if target_class is None else target_class
    pixels = predicted == chosen
    class_logits = logits[chosen]
    if pixels.any():
        return class_logits[pixels].mean(), chosen, True
    return class_logits.mean(), chosen, False


def _scores(model: nn.Module, inputs: Tensor, target_class: int | None,
            targets: list[str]) -> Tensor:
    """(B,) scores the CAM explains (module docstring); appends each image's description
    (:func:`class_target` for a class) to ``targets``."""
    output = model(inputs, mode='tensor')
    output = output[-1] if isinstance(output, (tuple, list)) else output
    if isinstance(model, ReIDModel):
        targets.extend(['embedding norm'] * output.shape[0])
        return output.norm(dim=1)
    if output.dim() not in (2, 4):
        raise ValueError(f"the model's tensor output has shape {tuple(output.shape)}; "
                         f'expected (B, D) embeddings, (B, K) logits or (B, K, h, w) logits')
    num_classes = output.shape[1]
    if target_class is not None and not 0 <= target_class < num_classes:
        raise ValueError(class_range_refusal(target_class, num_classes, 'target class'))
    names = class_names(model, num_classes)
    scores = []
    for logits in output:
        if logits.dim() == 1:
            chosen = int(logits.argmax()) if target_class is None else target_class
            score, predicted = logits[chosen], True
        else:
            score, chosen, predicted = _segmentation_score(logits, target_class)
        scores.append(score)
        targets.append(class_target(chosen, names, predicted))
    return torch.stack(scores)


def explain_attention(model: nn.Module, inputs: Tensor, cam_layer: str | None = None,
                      target_class: int | None = None,
                      weighting: str = 'element') -> list[AttentionExplanation]:
    """RGA spatial gates and a CAM for each image of a batch.

    Args:
        model: an mmengine model (or a wrapped one) in eval mode whose
            ``forward(inputs, mode='tensor')`` gives embeddings or logits (module docstring).
        inputs: (B, 3, H, W) preprocessed images (the output of the model's data
            preprocessor).
        cam_layer: dotted name of the module whose output map the CAM explains; default
            the neck if it outputs a map, else the backbone.
        target_class: class whose score the CAM explains (classification, segmentation);
            refused for a re-ID model (:func:`check_target_class`).
        weighting: ``'element'`` (LayerCAM) or ``'channel'`` (Grad-CAM); see
            :mod:`rga_mm.visualization.grad_cam`.

    Returns:
        One :class:`AttentionExplanation` per image.
    """
    check_target_class(model, target_class)
    model = model_of(model)
    if model.training:
        raise ValueError('explain_attention needs the model in eval mode (call model.eval()): '
                         'in training mode BatchNorm would mix the images of the batch')
    cam = GradCAM(cam_layer_candidates(model, cam_layer), weighting)
    inputs = inputs.detach().requires_grad_(True)  # a graph even for frozen weights
    targets: list[str] = []
    with SpatialGateRecorder(model) as recorder:
        maps = cam(lambda: _scores(model, inputs, target_class, targets))
    return [AttentionExplanation(
        gates={display_name(name): gate[index, 0] for name, gate in recorder.gates.items()},
        cam=maps[index], cam_target=targets[index]) for index in range(inputs.shape[0])]


def explain_packed_item(model: nn.Module, data: dict, **options: Any) -> AttentionExplanation:
    """:func:`explain_attention` of one pipeline output (``inputs``, ``data_samples``),
    preprocessed by the model's own data preprocessor as in testing; ``options`` are
    ``cam_layer``, ``target_class`` and ``weighting``."""
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    return explain_attention(model, batch['inputs'], **options)[0]
