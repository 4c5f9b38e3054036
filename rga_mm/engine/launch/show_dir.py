"""``tools/test.py --show-dir``: pictures of the test, as OpenMMLab's test tools draw them.

* a re-ID config (a ``ReIDMetric`` in ``test_evaluator``): the ranked lists of the first
  queries, or of those of lowest or highest average precision, drawn by
  :class:`~rga_mm.evaluation.metrics.ReIDRankedLists` in the metric's place, with its
  options: the same metrics, and pictures of the ranking they score;
* a segmentation config (mmseg's ``SegVisualizationHook`` in ``default_hooks``): the test
  images of every ``interval``-th batch (the hook's setting, 50 by default) with their
  predicted classes, drawn by that hook as mmseg's own test tool has it draw them, into
  ``<DIR>/vis_data/vis_image/`` (in a distributed test, those of the first process: the
  hook draws on rank 0 alone); :func:`undrawn_notice` says when a test has fewer
  batches than the interval, so that none is drawn.

A config with neither (the CIFAR configs) is refused in one sentence, which names the way to
a classifier's predictions.
"""
import copy

from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from rga_mm.errors import ConfigError
from rga_mm.evaluation.metrics.ranked_lists import DEFAULT_NUM_QUERIES, MISSING_PATHS
from rga_mm.visualization.image_inputs import component_name, config_test_pipeline

RANKED_LISTS = 'rga_mm.ReIDRankedLists'
# the queries each order of ReIDRankedLists draws, as the tool says it
ORDER_WORDS = dict(test='the first {} queries',
                   worst='the {} queries of lowest average precision',
                   best='the {} queries of highest average precision')


def _is_type(entry: object, name: str) -> bool:
    """Whether a config entry builds ``name``: its type written with or without a scope,
    or the class itself."""
    return isinstance(entry, dict) and component_name(entry) == name


def _check_paths_packed(cfg: Config) -> None:
    """Refuse a test pipeline whose ``PackInputs`` leaves out ``img_path``, which the ranked
    lists need to draw the images, before anything runs."""
    for transform in config_test_pipeline(cfg) or []:
        meta_keys = transform.get('meta_keys') if _is_type(transform, 'PackInputs') else None
        if meta_keys is not None and 'img_path' not in meta_keys:
            raise ConfigError(MISSING_PATHS)


def enable_show_dir(cfg: Config, show_dir: str, num_queries: int | None = None,
                    order: str | None = None) -> str:
    """Set ``cfg`` up to draw its test into ``show_dir``; returns what will be drawn.

    Args:
        cfg: a tool's config, changed in place.
        show_dir: the folder for the pictures.
        num_queries: the re-ID queries whose ranked lists are drawn; default: the config's
            own where its evaluator draws already (a ``ReIDRankedLists``), else
            ``DEFAULT_NUM_QUERIES``.
        order: which queries: ``'test'`` (the first ones), ``'worst'`` or ``'best'`` (by
            average precision), as ``ReIDRankedLists`` takes it; default as ``num_queries``,
            else ``'test'``.
            ``num_queries`` or ``order`` given to a segmentation config: the returned text
            says that they change nothing there.

    Raises:
        ConfigError: the config has neither a re-ID metric nor mmseg's visualization hook,
            or its re-ID test pipeline does not pack the images' paths.
    """
    evaluators = cfg.get('test_evaluator')
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    # a config that draws already (ReIDRankedLists) draws into show_dir instead
    metric_indices = [index for index, entry in enumerate(evaluators)
                      if _is_type(entry, 'ReIDMetric') or _is_type(entry, 'ReIDRankedLists')]
    if metric_indices:
        _check_paths_packed(cfg)
        ranked_lists = copy.deepcopy(evaluators[metric_indices[0]])
        # flags first, then what a config that draws already sets, then the defaults
        num_queries = num_queries or ranked_lists.get('num_queries') or DEFAULT_NUM_QUERIES
        order = order or ranked_lists.get('order') or 'test'
        ranked_lists.update(type=RANKED_LISTS, out_dir=show_dir, num_queries=num_queries,
                            order=order)
        evaluators[metric_indices[0]] = ranked_lists
        cfg.test_evaluator = evaluators
        queries = ORDER_WORDS[order].format(num_queries)
        return f'the ranked lists of {queries} (at most), in {show_dir}'
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if _is_type(hook, 'SegVisualizationHook'):
        hook.draw = True
        cfg.visualizer = ConfigDict(cfg.visualizer, save_dir=show_dir)
        interval = hook.get('interval', 50)
        batches = ('every test batch' if interval == 1 else
                   f"one test batch in {interval} (the hook's interval)")
        if cfg.get('launcher', 'none') != 'none':  # the hook draws on rank 0 alone
            batches += ' of the first process (mmseg draws on rank 0 alone)'
        flags = [flag for flag, value in (('--show-num', num_queries), ('--show-order', order))
                 if value is not None]
        verbs = 'choose re-ID ranked lists and change' if len(flags) > 1 else \
            'chooses re-ID ranked lists and changes'
        ignored = f' ({" and ".join(flags)} {verbs} nothing here)' if flags else ''
        return f'the predictions of {batches}, in {show_dir}/vis_data/vis_image{ignored}'
    raise ConfigError(
        f'--show-dir draws re-ID ranked lists (a ReIDMetric in test_evaluator) and '
        f"segmentation predictions (mmseg's SegVisualizationHook in default_hooks); the "
        f"config {cfg.filename} has neither (a classifier's predictions on images: "
        f"mmpretrain's ImageClassificationInferencer, docs/classification.md, \"Predict on "
        f'your own images")')


# the --cfg-options key of the interval of mmseg's visualization hook, which --show-dir turns on
HOOK_INTERVAL_KEY = 'default_hooks.visualization.interval'


def undrawn_notice(runner: Runner) -> str | None:
    """The line saying that ``--show-dir`` will draw no segmentation prediction, and how to
    draw them: mmseg's ``SegVisualizationHook`` draws the test batches ``interval``,
    ``2 × interval``, … (docs/segmentation.md), so a test of fewer batches draws none.
    ``None`` when it draws some, or draws no predictions (re-ID ranked lists are drawn
    whatever the number of batches). The test loader counted is the one ``runner.test()``
    runs: built here, it is not built again."""
    hook = next((hook for hook in runner.hooks
                 if type(hook).__name__ == 'SegVisualizationHook' and hook.draw), None)
    if hook is None:
        return None
    batches = len(runner.test_dataloader)
    if batches >= hook.interval:
        return None
    each = ' on each process' if runner.world_size > 1 else ''
    return (f'--show-dir will draw no prediction: the test has {batches} '
            f'{"batch" if batches == 1 else "batches"}{each}, fewer than the visualization '
            f'hook\'s interval of {hook.interval}; add --cfg-options {HOOK_INTERVAL_KEY}=1 '
            f'to draw every batch')
