"""Test helper: give a freshly built network the BN statistics of real images."""
import torch
from mmengine.dataset import pseudo_collate
from torch import nn


def trained_like(model: nn.Module, images: list) -> nn.Module:
    """Set every BN's statistics from ``images`` (packed pipeline outputs) as training would,
    and return the model in eval mode.

    A freshly built network shrinks its activations layer by layer (the demo model's
    embeddings to 1e-10..1e-3), where comparisons of its outputs would measure rounding noise
    only.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the batch below
    model.train()
    with torch.no_grad():
        model(model.data_preprocessor(pseudo_collate(images), False)['inputs'], mode='tensor')
    return model.eval()
