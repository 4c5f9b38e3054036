"""rga_mm's registries: children of mmengine's root registries in the ``rga_mm`` scope.

Objects registered here are found by configs with ``default_scope='rga_mm'`` or, from any
other scope (mmseg, mmpretrain), by a ``rga_mm.`` prefix on the type, e.g.
``dict(type='rga_mm.RGA', ...)``. ``locations`` lets the registries import the package on
first use, the way mmseg and mmpretrain do.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['rga_mm.models'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['rga_mm.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['rga_mm.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['rga_mm.datasets'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['rga_mm.evaluation'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['rga_mm.engine'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['rga_mm.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['rga_mm.visualization'])
