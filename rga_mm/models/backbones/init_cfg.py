"""The ``init_cfg`` the CIFAR backbones hand to mmengine's ``BaseModule``.

mmengine takes one initialisation config (a dict) or a list of them; the backbones' defaults
are tuples (a default argument must not be a shared mutable list), which mmengine refuses.
"""
from collections.abc import Sequence


def as_init_cfg(init_cfg: dict | Sequence[dict] | None) -> dict | list[dict] | None:
    """``init_cfg`` in a form mmengine takes: a dict as it is (e.g. ``dict(type='Pretrained',
    checkpoint=...)``), a sequence of dicts as a list, None or an empty sequence as None."""
    if init_cfg is None or isinstance(init_cfg, dict):
        return init_cfg
    return list(init_cfg) or None
