"""rga_mm: Relation-Aware Global Attention (Zhang et al., CVPR 2020) for OpenMMLab.

Importing the package registers all of its modules in the ``rga_mm`` registry scope and
allows mmengine Runner checkpoints to ``torch.load(weights_only=True)`` for the whole process
(docs/get_started.md, "What import rga_mm changes in your process"). The RGA module itself is
``rga_mm.RGA`` (the same class as ``rga_mm.models.attention.RGA``).
"""
import warnings

# rga_mm's core runs on mmcv-lite (no compiled ops); mmcv.cnn then warns on import that
# MultiScaleDeformableAttention is missing and advises the full mmcv, which rga_mm does not need.
warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from .errors import ConfigError, DatasetError  # noqa: E402
from .models.attention import RGA  # noqa: E402
from .utils import allow_runner_checkpoints, register_all_modules  # noqa: E402
from .version import __version__  # noqa: E402

register_all_modules(init_default_scope=False)
allow_runner_checkpoints()

__all__ = ['RGA', 'ConfigError', 'DatasetError', '__version__', 'register_all_modules']
