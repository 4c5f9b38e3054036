"""1×1 ``ConvModule``\\ s evaluated as few, wide convolutions: RGA's fast path.

mmcv's ``ConvModule`` runs conv → norm → act one module at a time. RGA's gate has three
embeddings (θ, φ, ψ) that read the same node map and a gate MLP whose input is the
concatenation of two terms; run one by one they are narrow GEMMs and extra full-size passes.
The functions here compute exactly the same results with

* one convolution for several modules reading the same input (stacked weights);
* the concatenated input never formed (the weight is split along its input channels);
* in eval mode, a BatchNorm folded into its convolution (weight·s, (bias − μ)·s + β with
  s = γ / √(σ² + ε)), so the normalisation costs no pass of its own.

Training mode, or a norm that is not a BatchNorm, runs each module's own norm on its slice,
so running statistics, SyncBN and GroupNorm behave as in ``ConvModule``.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


def folded_conv_norm(module: ConvModule) -> Optional[tuple[Tensor, Tensor]]:
    """(weight, bias) of ``module``'s conv → norm as one convolution, or None.

    Returns a (C_out, C_in, 1, 1) weight and a (C_out,) bias when the module has no norm or
    an eval-mode BatchNorm with running statistics; None when the norm must run itself.
    """
    conv, norm = module.conv, module.norm if module.with_norm else None
    conv_bias = _conv_bias(module)
    if norm is None:
        return conv.weight, conv_bias
    if not isinstance(norm, _BatchNorm) or norm.training or norm.running_mean is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
    bias = (conv_bias - norm.running_mean) * scale
    if norm.affine:
        bias = bias + norm.bias
    return conv.weight * scale.view(-1, 1, 1, 1), bias


def _conv_bias(module: ConvModule) -> Tensor:
    """The convolution's bias, zeros where it has none: (C_out,)."""
    conv = module.conv
    return conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)


def _normalize_and_activate(module: ConvModule, response: Tensor, folded: bool) -> Tensor:
    """The part of ``module`` after its convolution (its norm unless folded, then its act)."""
    if module.with_norm and not folded:
        response = module.norm(response)
    return module.activate(response) if module.with_activation else response


def shared_input_convs(modules: Sequence[ConvModule], x: Tensor) -> list[Tensor]:
    """``[module(x) for module in modules]`` as one convolution over ``x``.

    Args:
        modules: 1×1 ConvModules with equal input channels and the same activation.
        x: (B, C_in, H, W).

    Returns:
        One (B, C_out_i, H, W) tensor per module (views into one stacked response).
    """
    if len({repr(m.activate) if m.with_activation else None for m in modules}) != 1:
        raise ValueError('shared_input_convs needs modules with the same activation')
    folded = [folded_conv_norm(m) for m in modules]
    widths = [m.conv.out_channels for m in modules]
    if all(f is not None for f in folded):
        weight = torch.cat([w for w, _ in folded])
        stacked = F.conv2d(x, weight, torch.cat([b for _, b in folded]))
        return list(_normalize_and_activate(modules[0], stacked, True).split(widths, dim=1))
    weight = torch.cat([m.conv.weight for m in modules])
    responses = F.conv2d(x, weight, torch.cat([_conv_bias(m) for m in modules]))
    responses = responses.split(widths, dim=1)
    return [_normalize_and_activate(m, r, False) for m, r in zip(modules, responses)]


def conv_over_concatenation(module: ConvModule, parts: Sequence[Tensor]) -> Tensor:
    """``module(torch.cat(parts, dim=1))`` without forming the concatenation.

    Args:
        module: a 1×1 ConvModule whose input channels are the parts' channels summed.
        parts: (B, C_i, H, W) tensors, in concatenation order.

    Returns:
        (B, C_out, H, W).
    """
    folded = folded_conv_norm(module)
    weight, bias = folded if folded is not None else (module.conv.weight, _conv_bias(module))
    widths = [part.shape[1] for part in parts]
    response = None
    for part, part_weight in zip(parts, weight.split(widths, dim=1)):
        term = F.conv2d(part, part_weight, bias if response is None else None)
        response = term if response is None else response + term
    return _normalize_and_activate(module, response, folded is not None)
