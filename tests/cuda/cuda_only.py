"""The marks every CUDA test module sets as its ``pytestmark``: selected by ``pytest -m cuda``
and skipped, never passed, on a machine without a CUDA device."""
import pytest
import torch

CUDA_ONLY = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA device (torch.cuda.is_available() is False)'),
]
