"""Forward hooks on RGA's gates see what the gates read, also without autograd.

Without autograd RGA gates its own temporaries in place: in 'SC' and 'CS' the second gate
reads the map the first one gated, which is then multiplied by the second gate's
attention. A hook that keeps the gate's input (feature capture, visualisation) would find
it overwritten; where a hook is registered, on the gate, on one of its submodules or for
every module, the map is gated out of place instead. (The gate's own 1×1 convolutions run
fused, without calling their modules, so no submodule is handed the map itself.)
"""
import pytest
import torch
from torch.nn.modules.module import register_module_forward_hook

from rga_mm.models.attention import RGA


def _kept_inputs(gate, calls: list):
    return gate.register_forward_hook(
        lambda module, inputs, output: calls.append((inputs[0], inputs[0].clone())))


@pytest.mark.parametrize('mode, second', [('SC', 'channel_gate'), ('CS', 'spatial_gate')])
@pytest.mark.parametrize('where', ['gate', 'global'])
def test_the_second_gates_input_is_not_overwritten_under_a_hook(mode, second, where):
    torch.manual_seed(0)
    rga = RGA(16, spatial_size=(4, 4), reduction=2, mode=mode).eval()
    x = torch.randn(2, 16, 4, 4)
    expected = rga(x)  # with autograd: nothing in place
    gate, calls = getattr(rga, second), []
    if where == 'gate':
        handle = _kept_inputs(gate, calls)
    else:
        handle = register_module_forward_hook(
            lambda module, inputs, output: calls.append((inputs[0], inputs[0].clone()))
            if module is gate else None)
    try:
        with torch.no_grad():
            out = rga(x)
    finally:
        handle.remove()
    assert calls
    for kept, copied in calls:
        assert torch.equal(kept, copied)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
