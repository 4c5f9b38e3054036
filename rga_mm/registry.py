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
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
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


def _child(parent: Registry, location: str) -> Registry:
    """The ``rga_mm`` child of one of mmengine's root registries, named as it is; the
    registry imports ``location`` on first use."""
    return Registry(parent.name, parent=parent, scope='rga_mm', locations=[location])


# rga_mm.engine: running
RUNNERS = _child(MMENGINE_RUNNERS, 'rga_mm.engine')
RUNNER_CONSTRUCTORS = _child(MMENGINE_RUNNER_CONSTRUCTORS, 'rga_mm.engine')
STRATEGIES = _child(MMENGINE_STRATEGIES, 'rga_mm.engine')
LOOPS = _child(MMENGINE_LOOPS, 'rga_mm.engine')
HOOKS = _child(MMENGINE_HOOKS, 'rga_mm.engine')
LOG_PROCESSORS = _child(MMENGINE_LOG_PROCESSORS, 'rga_mm.engine')
OPTIMIZERS = _child(MMENGINE_OPTIMIZERS, 'rga_mm.engine')
OPTIM_WRAPPERS = _child(MMENGINE_OPTIM_WRAPPERS, 'rga_mm.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, 'rga_mm.engine')
PARAM_SCHEDULERS = _child(MMENGINE_PARAM_SCHEDULERS, 'rga_mm.engine')

# rga_mm.datasets
DATASETS = _child(MMENGINE_DATASETS, 'rga_mm.datasets')
DATA_SAMPLERS = _child(MMENGINE_DATA_SAMPLERS, 'rga_mm.datasets')
TRANSFORMS = _child(MMENGINE_TRANSFORMS, 'rga_mm.datasets')
FUNCTIONS = _child(MMENGINE_FUNCTIONS, 'rga_mm.datasets')

# rga_mm.models
MODELS = _child(MMENGINE_MODELS, 'rga_mm.models')
MODEL_WRAPPERS = _child(MMENGINE_MODEL_WRAPPERS, 'rga_mm.models')
WEIGHT_INITIALIZERS = _child(MMENGINE_WEIGHT_INITIALIZERS, 'rga_mm.models')
TASK_UTILS = _child(MMENGINE_TASK_UTILS, 'rga_mm.models')

# rga_mm.evaluation
METRICS = _child(MMENGINE_METRICS, 'rga_mm.evaluation')
EVALUATOR = _child(MMENGINE_EVALUATOR, 'rga_mm.evaluation')

# rga_mm.visualization
VISUALIZERS = _child(MMENGINE_VISUALIZERS, 'rga_mm.visualization')
VISBACKENDS = _child(MMENGINE_VISBACKENDS, 'rga_mm.visualization')

# rga_mm.apis
INFERENCERS = _child(MMENGINE_INFERENCERS, 'rga_mm.apis')
