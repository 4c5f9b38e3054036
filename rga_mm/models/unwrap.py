"""The model a training or test run works on, whether or not mmengine wrapped it.

mmengine's Runner wraps the model for distributed runs (``MMDistributedDataParallel`` and
the other registered wrappers), whose ``module`` is the model itself; the checks, hooks and
pictures that read the model's own submodules look through the wrapper with
:func:`model_of`.
"""
from mmengine.model import is_model_wrapper
from torch import nn


def model_of(runner_model: nn.Module) -> nn.Module:
    """The model inside a data-parallel wrapper, or the model itself."""
    return runner_model.module if is_model_wrapper(runner_model) else runner_model
