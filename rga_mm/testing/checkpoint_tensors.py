"""Every tensor of a training checkpoint, for tests that compare two runs bit for bit."""
from torch import Tensor


def checkpoint_tensors(checkpoint: dict) -> dict[str, Tensor]:
    """The tensors of a Runner's ``checkpoint`` (as ``torch.load`` gives it): its model
    state as ``model.<name>`` and its optimizer's per-parameter state (momentum buffers,
    Adam's moments) as ``optimizer.<param index>.<name>``."""
    tensors = {f'model.{name}': tensor for name, tensor in checkpoint['state_dict'].items()}
    for param, state in checkpoint['optimizer']['state'].items():
        tensors.update({f'optimizer.{param}.{name}': value for name, value in state.items()
                        if isinstance(value, Tensor)})
    return tensors
