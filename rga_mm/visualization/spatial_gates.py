"""Record the spatial gates of every RGA module of a model during a forward pass.

RGA-S multiplies a (B, C, H, W) map by a gate a_s = σ(S(x)) of shape (B, 1, H, W)
(paper Eq. 4–5, Fig. 3 shows it on images). The recorder hooks each RGA's ``spatial_gate``
(the RelationGate that computes S(x)), so it sees the gate the module actually applied,
also in the ``CS`` mode where it is computed on the channel-attended map.
"""

import torch
from torch import Tensor, nn

from rga_mm.models.attention import RGA


def rga_modules_with_spatial_gate(model: nn.Module) -> dict[str, RGA]:
    """Name → module for every RGA in ``model`` that has a spatial branch, in model order."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, RGA) and hasattr(module, 'spatial_gate')}


def display_name(module_name: str) -> str:
    """A short panel title for an RGA module: ``backbone.attentions.layer1`` → ``layer1``."""
    return module_name.rpartition('attentions.')[2] or module_name


class SpatialGateRecorder:
    """Context manager: ``gates[name]`` is the (B, 1, H, W) spatial gate each RGA module of
    ``model`` applied in the last forward pass run inside the ``with`` block."""

    def __init__(self, model: nn.Module) -> None:
        self.modules = rga_modules_with_spatial_gate(model)
        self.gates: dict[str, Tensor] = {}
        self._handles = []

    def __enter__(self) -> 'SpatialGateRecorder':
        for name, module in self.modules.items():
            self._handles.append(module.spatial_gate.register_forward_hook(
                lambda gate, inputs, logits, name=name: self._record(name, logits)))
        return self

    def _record(self, name: str, logits: Tensor) -> None:
        self.gates[name] = torch.sigmoid(logits.detach())

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
