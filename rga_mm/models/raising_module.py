"""Where in a model a module refused its input: its dotted path, read from the traceback.

A module's refusal (an RGA built for another map size or channel count) names the module's
type, not its place; in a backbone with one RGA per bottleneck (mmcv plugins) the type alone
does not say which block to fix. Nothing passes a module its own name, so the place is read
from the error's traceback instead: the frames of module methods on the way from the call
into the model (the outermost module, e.g. the model whose ``train_step`` the Runner calls)
down to the method that raised (the innermost module).
"""
from torch import nn


def modules_on_traceback(error: BaseException) -> list[nn.Module]:
    """The modules whose methods are on ``error``'s traceback, outermost first (a module
    once per frame: ``__call__``, ``forward`` and a check it calls give it three times)."""
    modules = []
    frame_link = error.__traceback__
    while frame_link is not None:
        owner = frame_link.tb_frame.f_locals.get('self')
        if isinstance(owner, nn.Module):
            modules.append(owner)
        frame_link = frame_link.tb_next
    return modules


def raising_module_path(error: BaseException) -> str | None:
    """The dotted path (``backbone.layer4.0.rga``) of the module that raised ``error``
    inside the outermost module of its traceback; None when no module raised it, the
    outermost one did, it does not lie inside the outermost one, or ``error`` was raised
    from another error (a wrapper's message that names the place itself, as
    ``StageAttentionBackbone``'s)."""
    modules = modules_on_traceback(error)
    if error.__cause__ is not None or len(modules) < 2 or modules[-1] is modules[0]:
        return None
    return next((name for name, module in modules[0].named_modules()
                 if module is modules[-1]), None)


def placed_message(error: BaseException) -> str:
    """``error``'s message, prefixed with the path of the module that raised it (as
    ``'backbone.layer4.0.rga: RGA was built for ...'``) where :func:`raising_module_path`
    finds one."""
    path = raising_module_path(error)
    return f'{path}: {error}' if path else str(error)
