"""Class activation maps from gradients: where in a feature map a scalar score comes from.

Two weightings of the target layer's activations A (B, C, h, w) by the gradients
G = ∂score/∂A:

* ``'channel'`` — Grad-CAM (Selvaraju et al., ICCV 2017):
  cam = ReLU(Σ_c mean_hw(G_c) · A_c). One weight per channel, so a channel counts wherever it
  is active, also at positions the score never reads.
* ``'element'`` — LayerCAM (Jiang et al., IEEE TIP 2021), Grad-CAM with per-position weights:
  cam = ReLU(Σ_c ReLU(G_c) ⊙ A_c). A position whose activations cannot change the score gets
  0, so the map stays inside the region the model reads. This is the default: at the
  strided stages RGA sits after, it is the faithful one.

No OpenMMLab package ships a CAM (mmpretrain's ``vis_cam.py`` tool needs the third-party
``grad-cam`` package), so this is a small module of our own.
"""
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rga_mm.errors import ConfigError

WEIGHTINGS = ('element', 'channel')


def check_weighting(weighting: object, name: str = 'weighting') -> None:
    """A ``ConfigError`` (a ``ValueError``) naming ``name`` unless ``weighting`` is one of
    :data:`WEIGHTINGS`."""
    if weighting not in WEIGHTINGS:
        raise ConfigError(f'{name} must be one of {WEIGHTINGS}, got {weighting!r}')


def last_feature_map(output: Any) -> Any:
    """A module's output map: the output itself, or the last item of a tuple/list (None
    for an empty one); the caller checks that it is a (B, C, h, w) tensor."""
    if isinstance(output, (tuple, list)):
        return output[-1] if output else None
    return output


def class_activation_map(activations: Tensor, gradients: Tensor,
                         weighting: str = 'element') -> Tensor:
    """(B, C, h, w) activations and gradients → (B, h, w) non-negative map (see module
    docstring for the two weightings)."""
    if weighting == 'channel':
        weighted = gradients.mean(dim=(2, 3), keepdim=True) * activations
    elif weighting == 'element':
        weighted = gradients.clamp(min=0) * activations
    else:
        raise ValueError(f'weighting must be one of {WEIGHTINGS}, got {weighting!r}')
    return weighted.sum(dim=1).clamp(min=0)


def _is_map(output: Any) -> bool:
    return isinstance(output, Tensor) and output.dim() == 4 and output.requires_grad


class GradCAM:
    """Record the output of the target layer during ``score_fn()`` and turn it into a CAM.

    Args:
        targets: candidate target layers in order of preference; the CAM explains the
            output map (a (B, C, h, w) tensor, or a tuple whose last item is one) of the
            first candidate that produces one during the forward pass, so no extra pass
            is needed to choose.
        weighting: ``'element'`` (LayerCAM, default) or ``'channel'`` (Grad-CAM).
    """

    def __init__(self, targets: Sequence[nn.Module], weighting: str = 'element') -> None:
        check_weighting(weighting)
        if not targets:
            raise ValueError('GradCAM needs at least one target layer')
        self.targets = list(targets)
        self.weighting = weighting

    def __call__(self, score_fn: Callable[[], Tensor]) -> Tensor:
        """Run ``score_fn`` (returns (B,) scores, one per image) → (B, h, w) maps."""
        recorded: dict[int, Any] = {}

        def record(index: int, output: Any) -> None:  # returns None: output unchanged
            recorded[index] = last_feature_map(output)

        handles = [target.register_forward_hook(
            lambda module, inputs, output, index=index: record(index, output))
            for index, target in enumerate(self.targets)]
        try:
            with torch.enable_grad():
                scores = score_fn()
        finally:
            for handle in handles:
                handle.remove()
        chosen = next((i for i in range(len(self.targets)) if _is_map(recorded.get(i))), None)
        if chosen is None:
            names = ', '.join(type(target).__name__ for target in self.targets)
            raise ValueError(f'no CAM target layer ({names}) output a (B, C, h, w) map (or a '
                             f'tuple ending with one) that depends on the input')
        activations = recorded[chosen]
        gradients, = torch.autograd.grad(scores.sum(), activations, allow_unused=True)
        if gradients is None:
            raise ValueError(f'the score does not depend on the last output map of the CAM '
                             f'target layer {type(self.targets[chosen]).__name__}; choose a '
                             f'layer whose last output feeds the head')
        return class_activation_map(activations.detach(), gradients, self.weighting)
