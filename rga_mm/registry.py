"""rga_mm's registries: children of mmengine's root registries in the ``rga_mm`` scope.

Objects registered here are found by configs with ``default_scope='rga_mm'`` or, from any
other scope (mmseg, mmpretrain), by a ``rga_mm.`` prefix on the type, e.g.
``dict(type='rga_mm.RGA', ...)``. ``locations`` lets the registries import the package on
first use, the way mmseg and mmpretrain do.

Every root registry of mmengine has a child here, including those in which rga_mm
registers nothing (optimizers, loops, ...): a Runner whose default scope is ``rga_mm``
looks each of its parts up in the ``rga_mm`` child first, and mmengine warns ("Failed to
search registry with scope ...") for every registry that has none.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

# rga_mm.engine: running
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['rga_mm.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, locations=['rga_mm.engine'])
STRATEGIES = Registry('strategy', parent=MMENGINE_STRATEGIES, locations=['rga_mm.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['rga_mm.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['rga_mm.engine'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMENGINE_LOG_PROCESSORS, locations=['rga_mm.engine'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['rga_mm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['rga_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['rga_mm.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['rga_mm.engine'])

# rga_mm.datasets
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['rga_mm.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['rga_mm.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['rga_mm.datasets'])
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, locations=['rga_mm.datasets'])

# rga_mm.models
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['rga_mm.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['rga_mm.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['rga_mm.models'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, locations=['rga_mm.models'])

# rga_mm.evaluation
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['rga_mm.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['rga_mm.evaluation'])

# rga_mm.visualization
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['rga_mm.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['rga_mm.visualization'])

# rga_mm.apis
INFERENCERS = Registry('inferencer', parent=MMENGINE_INFERENCERS, locations=['rga_mm.apis'])
