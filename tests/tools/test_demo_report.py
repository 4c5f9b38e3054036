"""tools/misc/demo_report.py: the trained metrics next to the chance level of a split."""
import json
import os.path as osp
import re

import pytest

from rga_mm.testing import load_script
from reid_trees import write_tree

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'misc', 'demo_report.py')
METRICS = {'reid/rank1': 90.0, 'reid/rank5': 95.0, 'reid/rank10': 97.0, 'reid/mAP': 80.0,
           'reid/mINP': 50.0, 'reid/num_query': 2, 'reid/num_query_skipped': 0,
           'reid/num_gallery': 5}
# Market-1501 file names: two queries, each with a true match in another camera
MARKET = dict(query=['0001_c1s1_001051_00.jpg', '0003_c2s1_000301_00.jpg'],
              bounding_box_test=['0001_c2s1_000301_01.jpg', '0003_c3s1_000551_02.jpg',
                                 '0004_c1s1_000151_01.jpg', '0005_c4s2_059471_04.jpg',
                                 '0006_c5s3_015240_04.jpg'])


@pytest.fixture
def report():
    return load_script(TOOL, 'demo_report')


def write_metrics(tmp_path, metrics) -> str:
    path = tmp_path / 'metrics.json'
    path.write_text(json.dumps(metrics))
    return str(path)


def test_report_prints_trained_and_chance_rows(report, tmp_path, capsys):
    root = write_tree(tmp_path / 'market', MARKET)  # empty files: the report reads names
    report.main([write_metrics(tmp_path, METRICS), str(root), '--trials', '2'])
    printed = capsys.readouterr().out
    assert f're-ID on {root}: 2 queries evaluated (0 skipped' in printed
    assert 'RGA-SC (trained)' in printed and 'chance (random ranking)' in printed
    assert 'nan' not in printed


@pytest.mark.parametrize('metrics', [{'accuracy/top1': 1.0}, [1, 2]])
def test_report_names_the_missing_reid_keys(report, tmp_path, metrics):
    path = write_metrics(tmp_path, metrics)
    with pytest.raises(SystemExit, match=rf'^the metrics {path} lack reid/rank1, reid/rank5, '
                                         r'.*reid/num_gallery; give the JSON that '
                                         r'tools/test\.py --out wrote for a re-ID config$'):
        report.main([path, str(tmp_path)])


@pytest.mark.parametrize('key, value', [('reid/mAP', 'n/a'), ('reid/num_query', None),
                                        ('reid/rank1', True)])
def test_report_names_a_metric_that_is_no_number(report, tmp_path, key, value):
    path = write_metrics(tmp_path, {**METRICS, key: value})
    with pytest.raises(SystemExit, match=rf'^the metrics {path} give {key} as '
                                         rf'{re.escape(repr(value))}, not a number'):
        report.main([path, str(tmp_path)])


def test_report_names_a_wrong_data_root(report, tmp_path):
    missing = str(tmp_path / 'no-market')
    with pytest.raises(SystemExit, match=rf'^Market-1501: data_root {missing} is not a '
                                         r'folder; expected bounding_box_train/'):
        report.main([write_metrics(tmp_path, METRICS), missing])


def test_report_names_a_split_without_cross_camera_matches(report, tmp_path):
    """Every image under camera 1: the protocol leaves no query to rank at random."""
    one_camera = {folder: [re.sub(r'_c\d', '_c1', name) for name in names]
                  for folder, names in MARKET.items()}
    root = write_tree(tmp_path / 'market', one_camera)
    with pytest.raises(SystemExit) as stopped:
        report.main([write_metrics(tmp_path, METRICS), str(root)])
    assert str(stopped.value) == (
        f'{root} has no chance level: none of its 2 queries has a gallery image of its '
        f'identity from another camera, which the evaluation protocol needs; give the '
        f'Market-1501-style folder that was tested')


@pytest.mark.parametrize('trials', ['0', '-2'])
def test_report_refuses_trials_below_one(report, tmp_path, capsys, trials):
    with pytest.raises(SystemExit) as stop:
        report.main([write_metrics(tmp_path, METRICS), str(tmp_path), '--trials', trials])
    assert stop.value.code == 2
    assert f'--trials {trials}: the chance row is a mean over that many random ' \
        f'rankings; give 1 or more' in capsys.readouterr().err


@pytest.mark.parametrize('counts, made', [
    (dict(num_query=20, num_query_skipped=0), '20 queries (20 evaluated, 0 skipped)'),
    (dict(num_query=1, num_query_skipped=1), '2 queries (1 evaluated, 1 skipped)')])
def test_report_refuses_metrics_made_on_another_split(report, tmp_path, capsys, counts, made):
    """Metrics of a 20-query split, or of the same 2 queries under another protocol, given
    with the 2-query MARKET tree: neither the header nor the chance row would describe them."""
    root = write_tree(tmp_path / 'market', MARKET)
    path = write_metrics(tmp_path, {**METRICS, **{f'reid/{k}': v for k, v in counts.items()}})
    with pytest.raises(SystemExit) as stop:
        report.main([path, str(root), '--trials', '1'])
    assert stop.value.code == (
        f'the metrics {path} count {made} but the query split of {root} gives 2 (2 evaluated, '
        f'0 skipped); give the metrics tools/test.py --out wrote on {root}, or the data root '
        'they were made on')
    assert capsys.readouterr().out == ''
