"""tools/analysis_tools/analyze_logs.py on the runs of a work dir: only the runs the newest
one resumes are joined; a run folder is read; mmengine's text log is refused with the path
of its run's scalar log. Logs are written by hand in mmengine's layout
``<work_dir>/<timestamp>/vis_data/scalars.json`` (4 iterations an epoch, a line each)."""
import json
from pathlib import Path

import mmcv
import pytest

from rga_mm.testing import load_script

TOOL = Path(__file__).parents[2] / 'tools/analysis_tools/analyze_logs.py'


def _train_lines(steps, loss: float) -> list[dict]:
    """A training line per step of ``steps``, ``loss`` at each, epochs of 4 iterations."""
    return [dict(lr=0.1, loss=loss, epoch=(step - 1) // 4 + 1, iter=step, step=step)
            for step in steps]


def _write_runs(work_dir: Path, runs: dict) -> Path:
    """``work_dir`` with a ``<timestamp>/vis_data/scalars.json`` per item of ``runs``."""
    for timestamp, lines in runs.items():
        (work_dir / timestamp / 'vis_data').mkdir(parents=True)
        (work_dir / timestamp / 'vis_data' / 'scalars.json').write_text(
            ''.join(json.dumps(line) + '\n' for line in lines))
    return work_dir


def _scalar_log(work_dir: Path, timestamp: str) -> str:
    return str(work_dir / timestamp / 'vis_data' / 'scalars.json')


# 2 epochs at lr 0.1, then a new run started afresh (no --resume) for 1 epoch
OLD = [*_train_lines(range(1, 5), 9.0), {'reid/mAP': 10.0, 'step': 1},
       *_train_lines(range(5, 9), 8.0), {'reid/mAP': 20.0, 'step': 2}]
NEW = [*_train_lines(range(1, 5), 1.0), {'reid/mAP': 50.0, 'step': 1}]


@pytest.fixture
def plotted(monkeypatch):
    """The tool, with ``plot_curves`` recording {legend name: log} and writing an empty file
    instead of drawing."""
    tool = load_script(TOOL, 'analyze_logs')
    logs = {}

    def record(found: dict, keys: list, out: str, **_) -> None:
        logs.update(found)
        Path(out).write_bytes(b'')

    monkeypatch.setattr(tool, 'plot_curves', record)
    return tool, logs


def _steps(log: dict, split: str, key: str) -> list[tuple]:
    return [(line['step'], line[key]) for line in log[split]]


def test_a_run_started_afresh_is_not_joined_with_the_older_run(plotted, tmp_path, capsys):
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {'20240101_120000': OLD, '20240102_090000': NEW})
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work/20240102_090000']
    assert _steps(logs['work/20240102_090000'], 'train', 'loss') == [(1, 1.0), (2, 1.0),
                                                                     (3, 1.0), (4, 1.0)]
    assert _steps(logs['work/20240102_090000'], 'val', 'reid/mAP') == [(1, 50.0)]
    assert capsys.readouterr().err == (
        f'{work_dir}: left out the earlier run 20240101_120000, as 20240102_090000 does not '
        "resume 20240101_120000 (it starts at step 1, not after 20240101_120000's first step "
        '1); to plot it, give its scalars.json as another LOG: '
        f'{_scalar_log(work_dir, "20240101_120000")}\n')


def test_a_resume_chain_is_joined_and_the_runs_before_it_left_out(plotted, tmp_path, capsys):
    """Two old runs (the second resuming the first), then a fresh run stopped in epoch 2
    after step 6 (its checkpoint at step 4) and its resume, which logs steps 5 and 6 again."""
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {
        '20240101_120000': OLD[:5], '20240101_130000': OLD[5:],
        '20240102_090000': [*_train_lines(range(1, 5), 4.0), {'reid/mAP': 30.0, 'step': 1},
                            *_train_lines((5, 6), 7.0)],
        '20240102_100000': [*_train_lines(range(5, 9), 2.0), {'reid/mAP': 40.0, 'step': 2}]})
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work']
    assert _steps(logs['work'], 'train', 'loss') == [(1, 4.0), (2, 4.0), (3, 4.0), (4, 4.0),
                                                     (5, 2.0), (6, 2.0), (7, 2.0), (8, 2.0)]
    assert _steps(logs['work'], 'val', 'reid/mAP') == [(1, 30.0), (2, 40.0)]
    old = ' '.join(_scalar_log(work_dir, ts) for ts in ('20240101_120000', '20240101_130000'))
    assert capsys.readouterr().err == (
        f'{work_dir}: left out the earlier runs 20240101_120000, 20240101_130000, as '
        '20240102_090000 does not resume 20240101_130000 (it starts at step 1, not after '
        "20240101_130000's first step 5); to plot them, give their scalars.json as further "
        f'LOGs: {old}\n'
        f'{work_dir}: joined 2 runs (20240102_090000 to 20240102_100000) into one curve per '
        'key, a later run winning where a step repeats\n')


def test_newest_runs_that_logged_nothing_are_left_out_of_the_chain(plotted, tmp_path, capsys):
    """A run killed while writing its first line (60 bytes, no newline) and one killed
    before logging anything: the chain of the two runs before them is plotted, not
    refused for the newest run's empty log."""
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {
        '20240101_120000': OLD[:5], '20240101_130000': OLD[5:], '20240102_080000': []})
    killed = work_dir / '20240102_090000' / 'vis_data' / 'scalars.json'
    killed.parent.mkdir(parents=True)
    killed.write_text(json.dumps(_train_lines([9], 5.0)[0])[:60])
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert _steps(logs['work'], 'train', 'loss') == [(step, 9.0 if step < 5 else 8.0)
                                                     for step in range(1, 9)]
    assert capsys.readouterr().err == (
        f'{killed}: left out, as it has no usable line (its run stopped before logging one)\n'
        f'{_scalar_log(work_dir, "20240102_080000")}: left out, as it has no usable line (its '
        f'run stopped before logging one)\n'
        f'{work_dir}: joined 2 runs (20240101_120000 to 20240101_130000) into one curve per '
        'key, a later run winning where a step repeats\n')


def _killed_run(work_dir: Path, timestamp: str, text: str) -> str:
    """A run folder whose scalar log is ``text``: empty, or its first line cut short."""
    log = work_dir / timestamp / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    log.write_text(text)
    return str(log)


# a run logging every 7th iteration to 280, a resume killed while writing its first line,
# and the resume of that checkpoint again, logging from 287 to 560
CHAIN = {'20240101_120000': _train_lines(range(7, 281, 7), 9.0),
         '20240103_120000': _train_lines(range(287, 561, 7), 1.0)}
CUT = json.dumps(_train_lines([287], 5.0)[0])[:40]


@pytest.mark.parametrize('text', ['', CUT])
def test_a_run_between_others_that_logged_nothing_is_left_out_of_the_chain(
        plotted, tmp_path, capsys, text):
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', CHAIN)
    killed = _killed_run(work_dir, '20240102_120000', text)
    capsys.readouterr()
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work']
    assert _steps(logs['work'], 'train', 'loss') == [
        *((step, 9.0) for step in range(7, 281, 7)), *((step, 1.0) for step in range(287, 561, 7))]
    assert capsys.readouterr().err == (
        f'{killed}: left out, as it has no usable line (its run stopped before logging one)\n'
        f'{work_dir}: joined 2 runs (20240101_120000 to 20240103_120000) into one curve per '
        'key, a later run winning where a step repeats\n')


def test_a_fresh_run_after_one_that_logged_nothing_is_plotted_alone(plotted, tmp_path, capsys):
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {'20240101_120000': OLD, '20240103_120000': NEW})
    killed = _killed_run(work_dir, '20240102_120000', '')
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work/20240103_120000']
    assert _steps(logs['work/20240103_120000'], 'val', 'reid/mAP') == [(1, 50.0)]
    assert capsys.readouterr().err == (
        f'{killed}: left out, as it has no usable line (its run stopped before logging one)\n'
        f'{work_dir}: left out the earlier run 20240101_120000, as 20240103_120000 does not '
        "resume 20240101_120000 (it starts at step 1, not after 20240101_120000's first step "
        '1); to plot it, give its scalars.json as another LOG: '
        f'{_scalar_log(work_dir, "20240101_120000")}\n')


def test_a_work_dir_whose_runs_all_logged_nothing_is_refused(plotted, tmp_path, capsys):
    tool, _ = plotted
    work_dir = tmp_path / 'work'
    _killed_run(work_dir, '20240101_120000', '')
    newest = _killed_run(work_dir, '20240102_120000', '{"lr": 0.1}\n')
    with pytest.raises(SystemExit) as stop:
        tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert stop.value.code == (f'{newest} has no usable line: mmengine writes one JSON dict '
                               'with a "step" key per logged iteration or validation')
    assert capsys.readouterr().err == ''
    assert not (tmp_path / 'c.png').exists()


def test_a_run_that_starts_past_the_older_runs_steps_is_not_joined(plotted, tmp_path, capsys):
    """A run resumed from another work dir's checkpoint at iteration 40."""
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {
        '20240101_120000': OLD, '20240102_090000': _train_lines(range(41, 45), 1.0)})
    tool.main([str(work_dir), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work/20240102_090000']
    assert capsys.readouterr().err.startswith(
        f'{work_dir}: left out the earlier run 20240101_120000, as 20240102_090000 does not '
        'resume 20240101_120000 (it starts at step 41, more than the logging interval (1) '
        "after 20240101_120000's last step 8); to plot it")


def test_a_run_folder_is_read_as_its_scalar_log(plotted, tmp_path, capsys):
    tool, logs = plotted
    work_dir = _write_runs(tmp_path / 'work', {'20240101_120000': OLD, '20240102_090000': NEW})
    tool.main([str(work_dir / '20240101_120000'), '--out', str(tmp_path / 'c.png')])
    assert list(logs) == ['work/20240101_120000']
    assert _steps(logs['work/20240101_120000'], 'val', 'reid/mAP') == [(1, 10.0), (2, 20.0)]
    assert capsys.readouterr().err == ''


def test_a_log_outside_a_work_dir_is_named_by_its_file(plotted, tmp_path, capsys):
    """Not in <work_dir>/<timestamp>/vis_data: the file's stem, or for a scalars.json its
    folder's name, names it in the legend and in the notes."""
    tool, logs = plotted
    (tmp_path / 'x/logs').mkdir(parents=True)
    (tmp_path / 'baseline').mkdir()
    (tmp_path / 'x/logs/mmpre.json').write_text(''.join(json.dumps(line) + '\n' for line in OLD))
    (tmp_path / 'baseline/scalars.json').write_text(
        ''.join(json.dumps(line) + '\n' for line in OLD[:4]))
    tool.main([str(tmp_path / 'x/logs/mmpre.json'), str(tmp_path / 'baseline'),
               '--out', str(tmp_path / 'c.png'), '--keys', 'loss', 'reid/mAP'])
    assert list(logs) == ['mmpre', 'baseline']
    assert capsys.readouterr().err == (
        'reid/mAP: not in baseline, so its subplot draws 1 of the 2 logs\n')


def test_the_same_log_given_twice_is_refused(plotted, tmp_path):
    """A work dir given twice (its two curves had one name), and a run folder with its own
    scalar log, refused even with names to tell them apart."""
    tool, _ = plotted
    work_dir = _write_runs(tmp_path / 'work', {'20240101_120000': OLD[:5],
                                               '20240101_130000': OLD[5:]})
    newest = _scalar_log(work_dir, '20240101_130000')
    run = work_dir / '20240101_130000'
    out = ['--out', str(tmp_path / 'c.png')]
    with pytest.raises(SystemExit) as stop:
        tool.main([str(work_dir), str(work_dir), *out])
    assert stop.value.code == (f'LOG {work_dir} is given twice (2 runs joined, the newest '
                               f'{newest}); give each log once')
    with pytest.raises(SystemExit) as stop:
        tool.main([str(run), newest, *out, '--legend', 'a', 'b'])
    assert stop.value.code == (f'LOGs {run} and {newest} are the same log ({newest}); give '
                               'each log once')
    assert not (tmp_path / 'c.png').exists()


TEXT_LOG = '2024/01/01 12:00:00 - mmengine - INFO - Epoch(train) [1][4/4]  lr: 1.0000e-01\n'


def test_mmengines_text_log_is_refused_with_its_runs_scalar_log(plotted, tmp_path):
    tool, _ = plotted
    work_dir = _write_runs(tmp_path / 'work', {'20240101_120000': OLD})
    text_log = work_dir / '20240101_120000' / '20240101_120000.log'
    text_log.write_text(TEXT_LOG)
    with pytest.raises(SystemExit) as stop:
        tool.main([str(text_log), '--out', str(tmp_path / 'c.png')])
    assert stop.value.code == (
        f"{text_log} is mmengine's text log, not a scalar log; give the run's scalar log "
        f'{_scalar_log(work_dir, "20240101_120000")} instead')

    (work_dir / '20240101_120000' / 'vis_data' / 'scalars.json').unlink()
    with pytest.raises(SystemExit) as stop:
        tool.main([str(text_log), '--out', str(tmp_path / 'c.png')])
    assert stop.value.code == (
        f"{text_log} is mmengine's text log, not a scalar log, and its run has no "
        f'{_scalar_log(work_dir, "20240101_120000")}; give a scalars.json or a work dir that '
        'has one')


def test_a_key_given_twice_is_drawn_once(tmp_path):
    """``--keys loss lr loss`` draws the subplots of ``--keys loss lr``: an image as large."""
    tool = load_script(TOOL, 'analyze_logs')
    work_dir = _write_runs(tmp_path / 'run', {'20240101_000000': OLD})
    sizes = []
    for keys in (['loss', 'lr', 'loss'], ['loss', 'lr'], ['loss', 'lr', 'reid/mAP']):
        out = tmp_path / f'{len(sizes)}.png'
        tool.main([str(work_dir), '--out', str(out), '--keys', *keys])
        sizes.append(mmcv.imread(str(out)).shape)
    assert sizes[0] == sizes[1] != sizes[2]
