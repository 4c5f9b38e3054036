"""``torch.jit.trace`` of RGA: one graph whatever the grad mode it is traced in.

In eval mode without autograd RGA gates its own temporaries in place; a traced graph must
not keep that, since the tracer's check reruns the module without grad, and a graph traced
without grad may later be run (and trained) with grad.
"""
import pytest
import torch

from rga_mm.models.attention import RGA


@pytest.fixture
def rga() -> RGA:
    torch.manual_seed(0)
    return RGA(16, spatial_size=(4, 4), reduction=2).eval()


def test_an_eval_mode_module_traces_and_passes_the_tracer_check(rga):
    x = torch.randn(2, 16, 4, 4)
    traced = torch.jit.trace(rga, x)  # check_trace=True reruns it under no_grad
    torch.testing.assert_close(traced(x), rga(x))


def test_a_graph_traced_without_grad_gives_the_eager_gradients(rga):
    with torch.no_grad():
        traced = torch.jit.trace(rga, torch.randn(2, 16, 4, 4), check_trace=False)
    x = torch.randn(2, 16, 4, 4, requires_grad=True)
    traced(x).square().sum().backward()
    expected = x.detach().clone().requires_grad_()
    rga(expected).square().sum().backward()
    torch.testing.assert_close(x.grad, expected.grad)
