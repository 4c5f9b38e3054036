"""1×1 ``ConvModule``\\ s evaluated as few, wide convolutions: RGA's fast path.

mmcv's ``ConvModule`` runs conv → norm → act one module at a time. RGA's gate has three
embeddings (θ, φ, ψ) that read the same node map and a gate MLP whose input is the
concatenation of two terms; run one by one they are narrow GEMMs and extra full-size passes.
The functions here compute exactly the same results with

* one convolution for several modules reading the same input (stacked weights);
* the concatenated input never formed (the weight is split along its input channels);
* in eval mode, a BatchNorm folded into its convolution (weight·s, (bias − μ)·s + β with
  s = γ / √(σ² + ε)), so the normalisation costs no pass of its own;
* in training mode, BatchNorms of modules reading the same input as one normalisation over
  the stacked channels, running statistics written back to each.

Any other norm (SyncBN, GroupNorm, ...) runs as its module's own on its slice, so it behaves
as in ``ConvModule``.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import prune


def folded_conv_norm(module: ConvModule) -> tuple[Tensor, Tensor] | None:
    """(weight, bias) of ``module``'s conv → norm as one convolution, or None.

    Returns a (C_out, C_in, 1, 1) weight and a (C_out,) bias when the module has no norm or
    an eval-mode BatchNorm with running statistics; None when the norm must run itself.
    Every fused path reads a module's weights here first, once its pruning is applied
    (:func:`apply_pruning`).
    """
    apply_pruning(module.conv)
    conv, norm = module.conv, module.norm if module.with_norm else None
    if norm is None:
        return conv.weight, _conv_bias(module)
    if not isinstance(norm, _BatchNorm) or norm.training or norm.running_mean is None:
        return None
    conv_bias = _conv_bias(module)
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
    bias = (conv_bias - norm.running_mean) * scale
    if norm.affine:
        bias = bias + norm.bias
    return conv.weight * scale.view(-1, 1, 1, 1), bias


def apply_pruning(conv: nn.Module) -> None:
    """Recompute the pruned tensors of ``conv`` (``weight`` = ``weight_orig`` · mask), as
    the forward pre-hooks of ``torch.nn.utils.prune`` do before each call of the module:
    the fused paths read the weights without calling it, and would otherwise use the
    tensor computed when the pruning was applied (stale, and freed by the first backward)."""
    for hook in conv._forward_pre_hooks.values():
        if isinstance(hook, prune.BasePruningMethod):
            hook(conv, ())


def conv_weights(module: ConvModule) -> tuple[Tensor, Tensor | None, bool]:
    """(weight, bias, normalized) to convolve with in place of ``module``'s conv: its norm
    folded in where :func:`folded_conv_norm` can (``normalized`` True), else the conv's own
    weight and bias (None where it has none), its norm still to apply."""
    folded = folded_conv_norm(module)
    if folded is not None:
        return *folded, True
    return module.conv.weight, module.conv.bias, False


def _conv_bias(module: ConvModule) -> Tensor:
    """The convolution's bias, zeros where it has none: (C_out,)."""
    conv = module.conv
    return conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)


def _stacked_bias(modules: Sequence[ConvModule]) -> Tensor | None:
    """The convolutions' biases stacked, (ΣC_out,), zeros for those without one; None when
    none has one (as for a ConvModule with a norm), which spares building zeros each call."""
    if all(m.conv.bias is None for m in modules):
        return None
    return torch.cat([_conv_bias(m) for m in modules])


def _normalize_and_activate(module: ConvModule, response: Tensor, normalized: bool) -> Tensor:
    """The part of ``module`` after its convolution: its norm (unless ``response`` is
    already normalized, by folding or stacking), then its activation."""
    if module.with_norm and not normalized:
        response = module.norm(response)
    return module.activate(response) if module.with_activation else response


def with_standard_grad_strides(weight: Tensor, x: Tensor) -> Tensor:
    """``weight``, the stacked weights of 1×1 convolutions over ``x``; where ``x`` is
    channels-last (RGA's channel nodes) and gradients flow, its gradient is given the
    parameters' own strides: the convolution's backward returns it channels-last, (C_in, 1,
    C_in, C_in) for a (C_out, C_in, 1, 1) weight, the same memory but strides that
    DistributedDataParallel compares with its buckets' and warns about ("Grad strides do not
    match bucket view strides") before copying them on a slower path."""
    if weight.requires_grad and not x.is_contiguous():
        weight.register_hook(lambda grad: grad.clone(memory_format=torch.contiguous_format))
    return weight


def shared_input_convs(modules: Sequence[ConvModule], x: Tensor) -> list[Tensor]:
    """``[module(x) for module in modules]`` as one convolution over ``x``.

    Args:
        modules: 1×1 ConvModules with equal input channels and the same activation.
        x: (B, C_in, H, W).

    Returns:
        One (B, C_out_i, H, W) tensor per module: views into one stacked response, or,
        where the norms cannot run stacked, each module's own normalised slice.
    """
    if len({repr(m.activate) if m.with_activation else None for m in modules}) != 1:
        raise ValueError('shared_input_convs needs modules with the same activation')
    folded = [folded_conv_norm(m) for m in modules]
    widths = [m.conv.out_channels for m in modules]
    if all(f is not None for f in folded):
        weight = with_standard_grad_strides(torch.cat([w for w, _ in folded]), x)
        stacked = F.conv2d(x, weight, torch.cat([b for _, b in folded]))
    else:
        weight = with_standard_grad_strides(torch.cat([m.conv.weight for m in modules]), x)
        stacked = F.conv2d(x, weight, _stacked_bias(modules))
        norms = [m.norm if m.with_norm else None for m in modules]
        if not _stackable(norms):
            return [_normalize_and_activate(m, r, False)
                    for m, r in zip(modules, stacked.split(widths, dim=1))]
        stacked = stacked_batch_norm(norms, stacked)
    return list(_normalize_and_activate(modules[0], stacked, True).split(widths, dim=1))


def _stackable(norms: Sequence[nn.Module | None]) -> bool:
    """Whether :func:`stacked_batch_norm` equals applying ``norms`` one by one."""
    first = norms[0]
    return all(isinstance(n, nn.BatchNorm2d) and n.affine and n.track_running_stats
               and (n.eps, n.momentum, n.training) == (first.eps, first.momentum, True)
               and (n.momentum is not None  # else the factor reads num_batches_tracked
                    or int(n.num_batches_tracked) == int(first.num_batches_tracked))
               for n in norms)


def stacked_batch_norm(norms: Sequence[nn.BatchNorm2d], x: Tensor) -> Tensor:
    """Training-mode BatchNorms of consecutive channel slices of ``x``, as one call.

    Batch statistics are per channel, so one normalisation over the stacked channels with
    the stacked parameters equals each norm on its slice; the running statistics (and
    ``num_batches_tracked``) are updated and written back to every norm as its own forward
    would. One call instead of one per slice spares a copy of every non-contiguous slice.

    Args:
        norms: training-mode ``nn.BatchNorm2d`` with equal eps and momentum, in channel order.
        x: (B, ΣC_i, H, W).

    Returns:
        (B, ΣC_i, H, W), normalised.
    """
    running_mean = torch.cat([n.running_mean for n in norms])
    running_var = torch.cat([n.running_var for n in norms])
    for norm in norms:
        norm.num_batches_tracked.add_(1)
    first = norms[0]
    factor = (1.0 / float(first.num_batches_tracked) if first.momentum is None else
              first.momentum)
    out = F.batch_norm(x, running_mean, running_var, torch.cat([n.weight for n in norms]),
                       torch.cat([n.bias for n in norms]), True, factor, first.eps)
    widths = [n.num_features for n in norms]
    with torch.no_grad():
        for norm, mean, var in zip(norms, running_mean.split(widths),
                                   running_var.split(widths)):
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
    return out


def conv_over_concatenation(module: ConvModule, parts: Sequence[Tensor]) -> Tensor:
    """``module(torch.cat(parts, dim=1))`` without forming the concatenation.

    Args:
        module: a 1×1 ConvModule whose input channels are the parts' channels summed.
        parts: (B, C_i, H, W) tensors, in concatenation order.

    Returns:
        (B, C_out, H, W).
    """
    weight, bias, normalized = conv_weights(module)
    widths = [part.shape[1] for part in parts]
    response = None
    for part, part_weight in zip(parts, weight.split(widths, dim=1)):
        term = F.conv2d(part, part_weight, bias if response is None else None)
        response = term if response is None else response + term
    return _normalize_and_activate(module, response, normalized)
