"""rga_mm: Relation-Aware Global Attention (Zhang et al., CVPR 2020) for OpenMMLab.

Importing the package registers all of its modules in the ``rga_mm`` registry scope.
"""
from .utils import register_all_modules
from .utils.checkpoint import allow_runner_checkpoints
from .version import __version__

register_all_modules(init_default_scope=False)
allow_runner_checkpoints()

__all__ = ['__version__', 'register_all_modules']
