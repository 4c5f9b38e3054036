"""What the CUDA test modules share: the marks each sets as its ``pytestmark`` (selected by
``pytest -m cuda`` and skipped, never passed, on a machine without a CUDA device), strict
fp32 and the relative error they compare by."""
import contextlib

import pytest
import torch

CUDA_ONLY = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA device (torch.cuda.is_available() is False)'),
]


@contextlib.contextmanager
def strict_fp32():
    """Switch TF32 off for matmuls and cuDNN convolutions, so that fp32 keeps its 24-bit
    mantissa (cuDNN allows TF32 by default; TF32 has 10 bits); restores the settings after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual − expected| / max |expected|: the error on the scale of the tensor
    (the absolute error where ``expected`` is all zero)."""
    expected = expected.double()
    scale = expected.abs().max().item() or 1.0
    return (actual.double() - expected).abs().max().item() / scale
