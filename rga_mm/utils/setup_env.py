"""Registering rga_mm's modules and choosing the default registry scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every rga_mm module that registers something.

    Args:
        init_default_scope: also make ``rga_mm`` the current default scope, so that
            registry look-ups without a scope prefix resolve in rga_mm first.
    """
    import rga_mm.datasets  # noqa: F401
    import rga_mm.engine  # noqa: F401
    import rga_mm.evaluation  # noqa: F401
    import rga_mm.models  # noqa: F401
    import rga_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'rga_mm':
        if current is not None:
            warnings.warn(f'the default scope was {current.scope_name!r}; a new default '
                          f'scope "rga_mm" is created and used from now on')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S.%f')
        DefaultScope.get_instance(f'rga_mm-{stamp}', scope_name='rga_mm')
