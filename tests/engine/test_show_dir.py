"""tools/test.py --show-dir: what it adds to a re-ID and a segmentation config, and the
configs it refuses."""
from pathlib import Path

import pytest
from mmengine.config import Config

from rga_mm.engine.launch.show_dir import ORDER_WORDS, enable_show_dir
from rga_mm.errors import ConfigError
from rga_mm.evaluation import ReIDMetric
from rga_mm.evaluation.metrics.ranked_lists import ORDERS
from rga_mm.testing import load_script
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]


def test_a_re_id_metric_is_replaced_by_ranked_lists_with_its_own_options():
    metric = dict(type='rga_mm.ReIDMetric', distance='euclidean', rerank=True, k1=5,
                  prefix='mine')
    for evaluators in (metric, [metric, dict(type='DumpResults', out_file_path='r.pkl')]):
        cfg = Config(dict(test_evaluator=evaluators))
        said = enable_show_dir(cfg, 'show', 7)
        assert said == 'the ranked lists of the first 7 queries (at most), in show'
        replaced, *kept = cfg.test_evaluator  # in the metric's place, its options kept
        assert kept == (evaluators[1:] if isinstance(evaluators, list) else [])
        assert replaced == dict(type='rga_mm.ReIDRankedLists', distance='euclidean',
                                rerank=True, k1=5, prefix='mine', out_dir='show',
                                num_queries=7, order='test')


def test_a_metric_given_as_a_class_is_found_too():
    cfg = Config(dict(test_evaluator=dict(type=ReIDMetric, distance='euclidean')))
    enable_show_dir(cfg, 'show', 3)
    assert cfg.test_evaluator == [dict(type='rga_mm.ReIDRankedLists', distance='euclidean',
                                       out_dir='show', num_queries=3, order='test')]


def test_a_config_that_draws_already_draws_into_the_folder_given():
    drawing = dict(type='rga_mm.ReIDRankedLists', out_dir='old', num_queries=3, order='worst',
                   distance='euclidean')
    cfg = Config(dict(test_evaluator=[drawing]))
    enable_show_dir(cfg, 'show', 5)  # the flag given changes its count, its order stays
    assert cfg.test_evaluator == [dict(drawing, out_dir='show', num_queries=5)]
    cfg = Config(dict(test_evaluator=[drawing]))
    assert enable_show_dir(cfg, 'show') == ('the ranked lists of the 3 queries of lowest '
                                            'average precision (at most), in show')
    assert cfg.test_evaluator == [dict(drawing, out_dir='show')]


def test_the_order_chooses_the_queries_and_is_said():
    for order, said in (('worst', 'the 4 queries of lowest average precision'),
                        ('best', 'the 4 queries of highest average precision')):
        cfg = Config(dict(test_evaluator=dict(type='ReIDMetric')))
        assert enable_show_dir(cfg, 'show', 4, order) == \
            f'the ranked lists of {said} (at most), in show'
        assert cfg.test_evaluator[0].order == order
    assert tuple(ORDER_WORDS) == ORDERS  # every order of the metric is said


def test_a_test_pipeline_that_does_not_pack_the_paths_is_refused():
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='mmpretrain.PackInputs', meta_keys=('camera_id', 'is_query'))]
    cfg = Config(dict(test_evaluator=dict(type='ReIDMetric'),
                      test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    wrapped = Config(dict(test_evaluator=dict(type='ReIDMetric'), test_dataloader=dict(
        dataset=dict(type='RepeatDataset', times=2, dataset=dict(pipeline=pipeline)))))
    for config in (cfg, wrapped):
        with pytest.raises(ConfigError, match="keep 'img_path' in the meta_keys of the test "
                                              "pipeline's PackInputs"):
            enable_show_dir(config, 'show', 7)
    pipeline[1]['meta_keys'] += ('img_path', )
    enable_show_dir(Config(dict(test_evaluator=dict(type='ReIDMetric'),
                                test_dataloader=dict(dataset=dict(pipeline=pipeline)))),
                    'show', 7)


def test_a_segmentation_config_draws_through_mmsegs_hook_into_the_folder():
    cfg = Config(dict(
        default_hooks=dict(visualization=dict(type='SegVisualizationHook', _scope_='mmseg')),
        visualizer=dict(type='SegLocalVisualizer', name='visualizer')))
    said = enable_show_dir(cfg, 'show')
    assert said == ("the predictions of one test batch in 50 (the hook's interval), in "
                    "show/vis_data/vis_image")
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer == dict(type='SegLocalVisualizer', name='visualizer',
                                  save_dir='show')
    cfg.default_hooks.visualization.interval = 1
    cfg.launcher = 'pytorch'  # mmseg's hook draws on rank 0 alone
    assert enable_show_dir(cfg, 'show') == ('the predictions of every test batch of the first '
                                            'process (mmseg draws on rank 0 alone), in '
                                            'show/vis_data/vis_image')


def test_a_config_with_neither_is_refused_naming_the_classifiers_way():
    cfg = Config(dict(test_evaluator=dict(type='Accuracy'),
                      default_hooks=dict(visualization=dict(type='VisualizationHook'))))
    with pytest.raises(ConfigError, match="has neither .a classifier's predictions on "
                                          "images: mmpretrain's ImageClassificationInferencer"):
        enable_show_dir(cfg, 'show', 7)


def test_the_tool_refuses_before_reading_the_checkpoint(tmp_path):
    test_tool = load_script(ROOT / 'tools/test.py', 'test_tool')
    cifar = ROOT / 'configs/cifar/densenet-bc-k12-l100_rga-sc_1xb64-300e_cifar10.py'
    missing = tmp_path / 'missing.pth'
    result = run_in_process(test_tool, cifar, missing, '--work-dir', tmp_path / 'work',
                            '--show-dir', tmp_path / 'show')
    assert result.returncode == 1
    assert f'the config {cifar} has neither' in result.stderr and str(missing) not in (
        result.stderr)
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    result = run_in_process(test_tool, cifar, missing, '--work-dir', tmp_path / 'work',
                            '--show-dir', a_file / 'show')
    assert result.stderr.strip() == (f'--show-dir {a_file / "show"}: {a_file} is a file, not '
                                     f'a folder; choose another --show-dir')
    result = run_in_process(test_tool, cifar, missing, '--show-num', '0')
    assert result.returncode == 2 and '--show-num' in result.stderr
    result = run_in_process(test_tool, cifar, missing, '--show-dir', tmp_path / 'show',
                            '--out', tmp_path / 'show' / 'metrics.json')
    assert result.stderr.strip() == (
        f'--out {tmp_path / "show" / "metrics.json"} is inside --show-dir {tmp_path / "show"}, '
        f'where the pictures are written; write it elsewhere')
    result = run_in_process(test_tool, cifar, missing, '--show-num', '5')
    assert result.returncode == 2  # a usage error, as argparse gives for --show-num 0
    assert result.stderr.strip().endswith('error: --show-num chooses the ranked lists that '
                                          '--show-dir draws; give --show-dir DIR with it')
    result = run_in_process(test_tool, cifar, missing, '--show-order', 'worst')
    assert result.returncode == 2
    assert result.stderr.strip().endswith('error: --show-order chooses the ranked lists that '
                                          '--show-dir draws; give --show-dir DIR with it')
    result = run_in_process(test_tool, cifar, missing, '--show-dir', tmp_path / 'show',
                            '--show-order', 'lowest')
    assert result.returncode == 2 and "invalid choice: 'lowest'" in result.stderr


def test_show_num_with_a_segmentation_config_is_said_to_do_nothing(tmp_path):
    test_tool = load_script(ROOT / 'tools/test.py', 'test_tool')
    cityscapes = ROOT / 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'
    result = run_in_process(test_tool, cityscapes, tmp_path / 'missing.pth', '--work-dir',
                            tmp_path / 'work', '--show-dir', tmp_path / 'show', '--show-num', 3)
    assert result.returncode == 1 and 'missing.pth' in result.stderr  # stops at the checkpoint
    assert result.stdout == ''  # the notice comes with the runner, after the checks
    cfg = Config.fromfile(str(cityscapes))
    assert enable_show_dir(cfg, 'show', 3).endswith(
        'in show/vis_data/vis_image (--show-num chooses re-ID ranked lists and changes '
        'nothing here)')
    assert enable_show_dir(Config.fromfile(str(cityscapes)), 'show', 3, 'best').endswith(
        '(--show-num and --show-order choose re-ID ranked lists and change nothing here)')
    assert not enable_show_dir(Config.fromfile(str(cityscapes)), 'show').endswith(')')
