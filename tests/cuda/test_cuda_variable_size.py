"""RGA on maps of another size than it was built for (paper §4.2, Discussion), CUDA vs CPU.

With ``variable_size=True`` a module built for h×w takes its spatial relations against the
h×w reference grid (the embeddings pooled onto it as RoIAlign over the whole map does) and
its channel gate from the map pooled to h×w. Those poolings are matrix products, so the
CUDA result must equal the CPU one up to the summation order of the kernels: in float64
(u = 2^-53 ≈ 1.1e-16) sums of at most a few thousand terms differ by well under 1e-12 of
the result's scale, and 1e-9 is far below any real difference (a shifted sample point of
the pooling changes outputs by 1e-3 or more).

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import copy

import pytest
import torch

from rga_mm.models.attention import RGA
from cuda_only import CUDA_ONLY, relative_error

pytestmark = CUDA_ONLY

TOLERANCE = 1e-9


def forward_backward(module: RGA, x: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Output, input gradient and parameter gradients of ``(module(x) · upstream).sum()``."""
    x = x.detach().clone().requires_grad_()
    out = module(x)
    (out * upstream).sum().backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return dict(out=out.detach(), input_grad=x.grad, **grads)


@pytest.mark.parametrize('relation_path', ['factorized', 'dense'])
@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('height, width', [(24, 12), (9, 5), (16, 8)],
                         ids=['larger', 'smaller', 'built size'])
def test_variable_size_rga_on_cuda_equals_cpu(height, width, train, relation_path):
    """RGA-SC built for 16×8 (256 channels), fed 24×12, 9×5 and its own 16×8."""
    torch.manual_seed(0)
    cpu = RGA(256, spatial_size=(16, 8), relation_path=relation_path,
              variable_size=True).double()
    for m in cpu.modules():  # non-trivial running statistics for eval mode
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(0, 1)
            m.running_var.uniform_(0.5, 2)
    cuda = copy.deepcopy(cpu).cuda()
    cpu.train(train)
    cuda.train(train)
    x = torch.relu(torch.randn(2, 256, height, width, dtype=torch.float64))
    upstream = torch.randn_like(x)

    expected = forward_backward(cpu, x, upstream)
    got = forward_backward(cuda, x.cuda(), upstream.cuda())
    assert got['out'].shape == x.shape
    for key, value in expected.items():
        error = relative_error(got[key].cpu(), value)
        assert error <= TOLERANCE, f'{key}: CUDA differs from CPU by {error:.2e}'
    if train:  # the BN statistics were updated from equal batch statistics
        for (name, a), b in zip(cpu.named_buffers(), cuda.buffers()):
            if a.is_floating_point():
                assert relative_error(b.cpu(), a) <= TOLERANCE, name
