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
from typing import Callable, Union

import torch
from torch import Tensor, nn

WEIGHTINGS = ('element', 'channel')


def last_feature_map(output: Union[Tensor, tuple, list]) -> Tensor:
    """A module's output map: the tensor itself, or the last tensor of a tuple/list."""
    if isinstance(output, (tuple, list)):
        output = output[-1] if output else None
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


class GradCAM:
    """Record the output of ``target`` during ``score_fn()`` and turn it into a CAM.

    Args:
        target: the module whose output map (a (B, C, h, w) tensor, or a tuple whose last
            item is one) is explained.
        weighting: ``'element'`` (LayerCAM, default) or ``'channel'`` (Grad-CAM).
    """

    def __init__(self, target: nn.Module, weighting: str = 'element') -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f'weighting must be one of {WEIGHTINGS}, got {weighting!r}')
        self.target = target
        self.weighting = weighting

    def __call__(self, score_fn: Callable[[], Tensor]) -> Tensor:
        """Run ``score_fn`` (returns (B,) scores, one per image) → (B, h, w) maps."""
        recorded = []
        handle = self.target.register_forward_hook(
            lambda module, inputs, output: recorded.append(last_feature_map(output)))
        try:
            with torch.enable_grad():
                scores = score_fn()
        finally:
            handle.remove()
        if not recorded or not isinstance(recorded[-1], Tensor) or recorded[-1].dim() != 4:
            got = 'nothing' if not recorded else (
                f'shape {tuple(recorded[-1].shape)}' if isinstance(recorded[-1], Tensor)
                else type(recorded[-1]).__name__)
            raise ValueError(f'the CAM target layer {type(self.target).__name__} must output '
                             f'a (B, C, h, w) map (or a tuple ending with one); it gave {got}')
        activations = recorded[-1]
        if not activations.requires_grad:
            raise ValueError(f'the output of the CAM target layer {type(self.target).__name__} '
                             f'does not depend on any parameter or input that requires grad')
        gradients, = torch.autograd.grad(scores.sum(), activations)
        return class_activation_map(activations.detach(), gradients, self.weighting)
