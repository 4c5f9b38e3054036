import pytest
import torch
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True)
def _seed_and_scope():
    """Every test starts from the same random state in the rga_mm registry scope (a Runner
    built by an earlier test leaves its own default scope behind)."""
    torch.manual_seed(0)
    init_default_scope('rga_mm')
    yield
