"""rga_mm.visualization.log_curves and tools/analysis_tools/analyze_logs.py on logs written
by a real mmengine Runner: one epoch-based run (2 epochs × 2 iterations, validation after
each epoch) and one iteration-based run (4 iterations, validation every 2)."""
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from PIL import Image

from rga_mm.testing import load_script
from rga_mm.visualization.log_curves import (
    MAX_COLUMNS,
    SUBPLOT_INCHES,
    default_keys,
    draw_curves,
    find_scalar_logs,
    join_scalar_logs,
    load_resume_chain,
    load_scalar_log,
    load_scalar_logs,
    plot_curves,
    resume_break,
)
from tool_runs import run_with_file_size_limit

ROOT = Path(__file__).parents[2]


class Scale(BaseModel):
    """loss = weight × mean(inputs): one parameter for the optimizer to update."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return dict(loss=self.weight * inputs.mean())
        return [dict(score=0.0)] * len(inputs)


class CountingMetric(BaseMetric):
    """The k-th evaluation reports mAP = 10·k and rank1 = 50, so each point is known."""
    default_prefix = 'reid'

    def __init__(self):
        super().__init__()
        self.evaluations = 0

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        self.evaluations += 1
        return dict(mAP=10.0 * self.evaluations, rank1=50.0, num_query=4)  # a count: not plotted


def _train(work_dir: Path, by_epoch: bool) -> Path:
    """Train ``Scale`` on 4 samples in batches of 2; returns the work dir."""
    loader = dict(dataset=[dict(inputs=torch.tensor(float(i))) for i in range(4)],
                  batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    train_cfg = (dict(by_epoch=True, max_epochs=2, val_interval=1) if by_epoch else
                 dict(by_epoch=False, max_iters=4, val_interval=2))
    runner = Runner(
        model=Scale(), work_dir=str(work_dir), experiment_name=f'log_curves_{work_dir.name}',
        train_dataloader=loader, train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        val_dataloader=loader, val_cfg=dict(), val_evaluator=dict(type=CountingMetric),
        log_processor=dict(by_epoch=by_epoch),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1,
                                       log_metric_by_epoch=by_epoch), checkpoint=None),
        default_scope='rga_mm', log_level='WARNING')
    runner.train()
    return work_dir


@pytest.fixture(scope='module')
def work_dirs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp('runs')
    return dict(epochs=_train(root / 'epochs', by_epoch=True),
                iters=_train(root / 'iters', by_epoch=False))


@pytest.fixture(scope='module')
def logs(work_dirs) -> dict:
    return {name: load_scalar_log(find_scalar_logs(str(path))[-1])
            for name, path in work_dirs.items()}


def _curves(figure) -> dict:
    """{subplot title: (x label, [(legend label, x, y) per line])}."""
    return {ax.get_title(): (ax.get_xlabel(),
                             [(line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
                              for line in ax.get_lines()])
            for ax in figure.axes}


def test_runner_log_splits_into_training_and_validation_lines(logs):
    epochs, iters = logs['epochs'], logs['iters']
    assert [(line['epoch'], line['step']) for line in epochs['train']] == [
        (1, 1), (1, 2), (2, 3), (2, 4)]
    # epoch-based: a validation line's step is the epoch
    assert [(line['step'], line['reid/mAP']) for line in epochs['val']] == [(1, 10), (2, 20)]
    assert [line['step'] for line in iters['train']] == [1, 2, 3, 4]
    assert not any('epoch' in line for line in iters['train'])
    # iteration-based: a validation line's step is the iteration
    assert [(line['step'], line['reid/mAP']) for line in iters['val']] == [(2, 10), (4, 20)]


def test_default_keys_are_loss_lr_and_the_validation_metrics(logs):
    assert default_keys(logs) == ['loss', 'lr', 'reid/mAP', 'reid/rank1']
    assert default_keys({'val only': dict(train=[], val=logs['epochs']['val'])}) == [
        'reid/mAP', 'reid/rank1']


def test_one_subplot_per_key_one_point_per_logged_line(logs):
    figure = draw_curves({'epochs': logs['epochs']}, default_keys(logs))
    curves = _curves(figure)
    assert list(curves) == ['loss', 'lr', 'reid/mAP', 'reid/rank1']
    assert len(figure.axes) == 4  # the 2 spare cells of the 2×3 grid are removed
    label, points = curves['lr']
    assert (label, points) == ('iteration', [('epochs', [1, 2, 3, 4], [0.1] * 4)])
    assert curves['loss'][1][0][1] == [1, 2, 3, 4]
    assert curves['reid/mAP'] == ('epoch', [('epochs', [1, 2], [10.0, 20.0])])
    assert curves['reid/rank1'] == ('epoch', [('epochs', [1, 2], [50.0, 50.0])])


def test_two_runs_share_each_subplot_with_a_legend(logs):
    figure = draw_curves(logs, ['reid/mAP', 'loss'], title='epochs vs iterations')
    curves = _curves(figure)
    assert curves['reid/mAP'] == ('epoch / iteration', [('epochs', [1, 2], [10.0, 20.0]),
                                                        ('iters', [2, 4], [10.0, 20.0])])
    assert [name for name, _, _ in curves['loss'][1]] == ['epochs', 'iters']
    legend = figure.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ['epochs', 'iters']
    assert figure.get_suptitle() == 'epochs vs iterations'
    iteration_only = _curves(draw_curves({'iters': logs['iters']}, ['reid/mAP']))
    assert iteration_only['reid/mAP'][0] == 'iteration'


@pytest.mark.parametrize('keys, grid', [(['loss'], (1, 1)),
                                        (['loss', 'lr', 'reid/mAP', 'reid/rank1'], (2, 3))])
def test_png_has_the_size_of_its_subplot_grid(logs, tmp_path, keys, grid):
    rows, columns = grid
    assert columns <= MAX_COLUMNS
    out_file = str(tmp_path / 'curves.png')
    assert plot_curves(logs, keys, out_file, dpi=40) == out_file
    with Image.open(out_file) as image:
        assert image.format == 'PNG'
        assert image.size == (round(SUBPLOT_INCHES[0] * columns * 40),
                              round(SUBPLOT_INCHES[1] * rows * 40))


def test_the_last_scalar_log_found_is_the_newest_run_of_a_work_dir(work_dirs, tmp_path):
    (newest, ) = Path(work_dirs['epochs']).glob('*/vis_data/scalars.json')
    assert find_scalar_logs(str(work_dirs['epochs'])) == [str(newest)]
    assert find_scalar_logs(str(newest)) == [str(newest)]
    for timestamp in ('20240101_120000', '20240102_090000', '20231231_235959'):
        (tmp_path / timestamp / 'vis_data').mkdir(parents=True)
        (tmp_path / timestamp / 'vis_data' / 'scalars.json').write_text('{"step": 1}\n')
    assert find_scalar_logs(str(tmp_path))[-1] == str(
        tmp_path / '20240102_090000' / 'vis_data' / 'scalars.json')


def test_missing_log_names_the_path_and_where_mmengine_writes_it(tmp_path):
    missing = str(tmp_path / 'scalars.json')
    with pytest.raises(FileNotFoundError, match='vis_data/scalars.json') as error:
        load_scalar_log(missing)
    assert missing in str(error.value)


def test_work_dir_without_logs_says_so(tmp_path):
    (tmp_path / '20240101_120000' / 'vis_data').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no <timestamp>/vis_data/scalars.json under'):
        find_scalar_logs(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='neither a scalar log nor a work dir'):
        find_scalar_logs(str(tmp_path / 'nowhere'))


def test_log_without_usable_lines_says_so(tmp_path):
    empty = tmp_path / 'empty.json'
    empty.write_text('')
    with pytest.raises(ValueError, match='has no usable line'):
        load_scalar_log(str(empty))
    no_step = tmp_path / 'no_step.json'
    no_step.write_text('{"lr": 0.1, "loss": 1.0}\n{"reid/mAP": 3.0}\n')
    with pytest.raises(ValueError, match='has no usable line'):
        load_scalar_log(str(no_step))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"lr": 0.1, "loss": 1.0, "step": 1}\n{"lr": 0.1, "lo\n')
    with pytest.raises(ValueError, match=r'line 2 column 13 is not JSON \(Unterminated '
                                         r'string starting at\)'):
        load_scalar_log(str(broken))
    broken.write_text('{"lr": 0.1, "loss": 1.0, "step": 1}\n{"a": \n')  # column on its line
    with pytest.raises(ValueError, match=r'line 2 column 7 is not JSON \(Expecting value\)'):
        load_scalar_log(str(broken))
    other_file = tmp_path / 'config.py'
    other_file.write_text("model = dict(type='RGA')")  # one line, no newline: no cut log
    with pytest.raises(ValueError, match=rf'^{re.escape(str(other_file))} is not an mmengine '
                                         r'scalar log \(scalars\.json\), whose lines are JSON '
                                         r'dicts: its first line is not JSON'):
        load_scalar_log(str(other_file))
    metrics = tmp_path / 'metrics.json'  # what tools/test.py --out writes: indented JSON
    metrics.write_text(json.dumps({'reid/mAP': 26.9, 'reid/rank1': 31.6}, indent=2))
    with pytest.raises(ValueError, match=rf'^{re.escape(str(metrics))} is one JSON document '
                                         r'over 4 lines \(a metrics file'):
        load_scalar_log(str(metrics))


def test_a_key_of_both_splits_gets_a_subplot_for_each(logs):
    curves = _curves(draw_curves({'epochs': logs['epochs']}, ['time', 'reid/mAP']))
    assert list(curves) == ['time (training)', 'time (validation)', 'reid/mAP']
    training_label, [(_, training_steps, _)] = curves['time (training)']
    validation_label, [(_, validation_steps, _)] = curves['time (validation)']
    assert (training_label, training_steps) == ('iteration', [1, 2, 3, 4])
    assert (validation_label, validation_steps) == ('epoch', [1, 2])


def test_unknown_key_lists_the_available_keys(logs):
    with pytest.raises(KeyError) as error:
        draw_curves(logs, ['loss', 'reid/rank5'])
    message = error.value.args[0]
    assert "no log has the key 'reid/rank5'" in message
    train = ['data_time', 'epoch', 'iter', 'loss', 'lr', 'step', 'time']
    val = ['data_time', 'reid/mAP', 'reid/num_query', 'reid/rank1', 'step', 'time']
    assert f'training keys: {train}, validation keys: {val}' in message


def _analyze_logs():
    return load_script(ROOT / 'tools/analysis_tools/analyze_logs.py', 'analyze_logs')


def test_cli_plots_work_dirs_and_prints_the_png(work_dirs, tmp_path, capsys):
    out_file = str(tmp_path / 'curves.png')
    _analyze_logs().main([str(work_dirs['epochs']), str(work_dirs['iters']), '--out', out_file,
                          '--keys', 'loss', 'reid/mAP', '--legend', 'a', 'b', '--dpi', '20'])
    assert capsys.readouterr().out == out_file + '\n'
    with Image.open(out_file) as image:
        assert image.size == (round(SUBPLOT_INCHES[0] * 2 * 20), round(SUBPLOT_INCHES[1] * 20))


def test_cli_errors_are_one_line_messages(work_dirs, tmp_path):
    tool = _analyze_logs()
    out = ['--out', str(tmp_path / 'curves.png')]
    with pytest.raises(SystemExit, match='--legend gives 1 names for 2 logs'):
        tool.main([str(work_dirs['epochs']), str(work_dirs['iters']), '--legend', 'a', *out])
    with pytest.raises(SystemExit, match='^no log has the key'):
        tool.main([str(work_dirs['epochs']), '--keys', 'mIoU', *out])
    with pytest.raises(SystemExit, match='no <timestamp>/vis_data/scalars.json under'):
        tool.main([str(tmp_path), *out])
    assert not (tmp_path / 'curves.png').exists()


# the first bytes of each format, as its writer starts the file
MAGIC = {'pdf': b'%PDF', 'svg': b'<?xml', 'jpg': b'\xff\xd8\xff', 'PNG': b'\x89PNG'}


@pytest.mark.parametrize('suffix', list(MAGIC))
def test_cli_writes_the_format_its_suffix_names(work_dirs, tmp_path, capsys, suffix):
    out_file = str(tmp_path / f'curves.{suffix}')
    _analyze_logs().main([str(work_dirs['epochs']), '--out', out_file, '--dpi', '20'])
    assert capsys.readouterr().out == out_file + '\n'
    assert Path(out_file).read_bytes().startswith(MAGIC[suffix])


def test_cli_refuses_an_out_it_cannot_write_in_one_sentence(work_dirs, tmp_path):
    tool = _analyze_logs()
    log = str(work_dirs['epochs'])
    folder = re.escape(f'--out {tmp_path} is a folder; give a file name in it, e.g. '
                       f'{tmp_path / "curves.png"}')
    with pytest.raises(SystemExit, match=f'^{folder}$'):
        tool.main([log, '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match='the name has no suffix to give the image format; '
                                         r'end it in one of .*\.pdf, .*\.png, .*\.svg'):
        tool.main([log, '--out', str(tmp_path / 'curves')])
    with pytest.raises(SystemExit, match=r'matplotlib writes no \.docx files; end it in one '
                                         r'of .*\.png'):
        tool.main([log, '--out', str(tmp_path / 'curves.docx')])
    with pytest.raises(SystemExit, match='the name has no suffix'):  # its folder not made
        tool.main([log, '--out', str(tmp_path / 'plots' / 'curves')])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which('xelatex') is not None, reason='writes .pgf with xelatex')
def test_cli_names_a_format_whose_writer_cannot_run(work_dirs, tmp_path):
    out_file = tmp_path / 'curves.pgf'
    with pytest.raises(SystemExit, match=r"cannot write \.pgf files here \('xelatex' not "
                                         r'found.*\); choose another suffix'):
        _analyze_logs().main([str(work_dirs['epochs']), '--out', str(out_file)])


LINES = ['{"lr": 0.1, "loss": 1.0, "step": 1}', '{"lr": 0.1, "loss": 0.5, "step": 2}',
         '{"reid/mAP": 3.0, "step": 1}']


def test_cli_names_a_key_that_some_logs_lack(tmp_path, capsys):
    with_map, without = tmp_path / 'a.json', tmp_path / 'b.json'
    with_map.write_text('\n'.join(LINES) + '\n')
    without.write_text('\n'.join(LINES[:2]) + '\n')
    out = str(tmp_path / 'curves.png')
    _analyze_logs().main([str(with_map), str(without), '--out', out, '--keys', 'loss',
                          'reid/mAP', '--legend', 'a', 'b', '--dpi', '20'])
    assert capsys.readouterr().err.splitlines() == [
        'reid/mAP: not in b, so its subplot draws 1 of the 2 logs']


def test_cli_names_a_broken_line_by_its_line_in_the_file(tmp_path):
    log = tmp_path / 'scalars.json'
    log.write_text('\n'.join([*LINES, '{"lr": 0.1, garbage', LINES[0]]) + '\n')
    with pytest.raises(SystemExit, match=f'^{re.escape(str(log))} line 4 column 13 is not '
                                         'JSON .*repair or delete that line$'):
        _analyze_logs().main([str(log), '--out', str(tmp_path / 'curves.png')])
    # a last line with its newline was written whole: broken, not cut short
    log.write_text('\n'.join([*LINES, 'garbage']) + '\n')
    with pytest.raises(SystemExit, match='line 4 column 1 is not JSON'):
        _analyze_logs().main([str(log), '--out', str(tmp_path / 'curves.png')])


def test_cli_skips_a_last_line_cut_short_with_a_notice(tmp_path, capsys):
    """A run killed while mmengine wrote a line leaves it without its newline."""
    log = tmp_path / 'scalars.json'
    log.write_text('\n'.join(LINES) + '\n{"lr": 0.1, "lo')
    tool = _analyze_logs()
    out_file = str(tmp_path / 'curves.png')
    tool.main([str(log), '--out', out_file])
    captured = capsys.readouterr()
    assert captured.out == out_file + '\n'
    assert captured.err == (f'{log}: skipped line 4, cut short (no newline: the run stopped '
                            'while writing it); plotting the 3 lines before it\n')
    assert load_scalar_log(str(log)) == {'train': [json.loads(line) for line in LINES[:2]],
                                              'val': [json.loads(LINES[2])]}


# a run killed in epoch 2 (after its checkpoint at iteration 2), then resumed from it: the
# resumed run logs iteration 3 again; folders are made newest first, to be sorted by name
RUNS = {'20240102_090000': ['{"lr": 0.1, "loss": 2.0, "epoch": 2, "step": 3}',
                            '{"lr": 0.1, "loss": 1.0, "epoch": 2, "step": 4}',
                            '{"reid/mAP": 20.0, "step": 2}'],
        '20240101_120000': ['{"lr": 0.1, "loss": 4.0, "epoch": 1, "step": 1}',
                            '{"lr": 0.1, "loss": 3.0, "epoch": 1, "step": 2}',
                            '{"reid/mAP": 10.0, "step": 1}',
                            '{"lr": 0.1, "loss": 9.0, "epoch": 2, "step": 3}']}


def _resumed_work_dir(root: Path) -> Path:
    """A work dir with the two runs of ``RUNS``."""
    for timestamp, lines in RUNS.items():
        (root / timestamp / 'vis_data').mkdir(parents=True)
        (root / timestamp / 'vis_data' / 'scalars.json').write_text('\n'.join(lines) + '\n')
    return root


def test_find_scalar_logs_lists_the_runs_of_a_work_dir_oldest_first(tmp_path):
    work_dir = _resumed_work_dir(tmp_path / 'work')
    assert find_scalar_logs(str(work_dir)) == [
        str(work_dir / timestamp / 'vis_data' / 'scalars.json')
        for timestamp in ('20240101_120000', '20240102_090000')]
    newest = find_scalar_logs(str(work_dir))[-1]
    assert find_scalar_logs(newest) == [newest]


def test_runs_are_joined_in_step_order_a_later_run_winning_a_repeated_step(tmp_path):
    joined = load_scalar_logs(find_scalar_logs(str(_resumed_work_dir(tmp_path / 'work'))))
    assert [(line['step'], line['loss']) for line in joined['train']] == [
        (1, 4.0), (2, 3.0), (3, 2.0), (4, 1.0)]
    assert [(line['step'], line['reid/mAP']) for line in joined['val']] == [(1, 10.0),
                                                                           (2, 20.0)]
    single = join_scalar_logs([joined])
    assert single == joined
    with pytest.raises(ValueError, match='no log to join'):
        join_scalar_logs([])


def test_a_run_started_afresh_is_not_joined_with_the_older_run(tmp_path):
    """Two unrelated runs of a work dir: the newer one starts at step 1 again (no resume)."""
    work_dir = tmp_path / 'work'
    for timestamp, (loss, steps) in {'20240101_120000': (9.0, range(1, 5)),
                                     '20240102_090000': (1.0, range(1, 3))}.items():
        (work_dir / timestamp / 'vis_data').mkdir(parents=True)
        (work_dir / timestamp / 'vis_data' / 'scalars.json').write_text(''.join(
            json.dumps(dict(lr=0.1, loss=loss, step=step)) + '\n' for step in steps))
    paths = find_scalar_logs(str(work_dir))
    assert [(line['step'], line['loss']) for line in load_scalar_logs(paths)['train']] == [
        (1, 1.0), (2, 1.0)]
    start, log, reason = load_resume_chain(paths)
    assert (start, log) == (1, load_scalar_log(paths[1]))
    assert reason == "it starts at step 1, not after 20240101_120000's first step 1"
    earlier, later = (('a', load_scalar_log(path)) for path in paths)
    assert resume_break(earlier, later) is not None
    assert resume_break(earlier, ('b', {'train': [dict(step=5)], 'val': []})) is None
    with pytest.raises(ValueError, match='no log to join'):
        load_scalar_logs([])


def test_cli_plots_every_run_of_a_work_dir_and_says_how_many(tmp_path, capsys, monkeypatch):
    work_dir = _resumed_work_dir(tmp_path / 'work')
    tool = _analyze_logs()
    plotted = {}
    monkeypatch.setattr(tool, 'plot_curves', lambda logs, keys, out, **_: (
        plotted.update(logs), Path(out).write_bytes(b'')))  # recorded, an empty file written
    out_file = str(tmp_path / 'curves.png')
    tool.main([str(work_dir), '--out', out_file])
    captured = capsys.readouterr()
    assert captured.out == out_file + '\n'
    assert captured.err == (f'{work_dir}: joined 2 runs (20240101_120000 to 20240102_090000) '
                            'into one curve per key, a later run winning where a step '
                            'repeats\n')
    assert list(plotted) == ['work']
    assert [line['step'] for line in plotted['work']['train']] == [1, 2, 3, 4]


def test_a_series_of_one_point_is_drawn_with_a_marker():
    one_point = {'train': [json.loads(LINES[0])], 'val': []}
    two_points = {'train': [json.loads(line) for line in LINES[:2]], 'val': []}
    lines = draw_curves({'one': one_point, 'two': two_points}, ['loss']).axes[0].get_lines()
    assert [(line.get_label(), line.get_marker()) for line in lines] == [('one', 'o'),
                                                                        ('two', 'None')]


@pytest.mark.parametrize('dpi, message', [('0', 'argument --dpi: must be at least 10, got 0'),
                                          ('2', 'argument --dpi: must be at least 10, got 2'),
                                          ('601', 'argument --dpi: must be at most 600 (a '
                                                  'larger figure takes gigabytes to draw), got '
                                                  '601')])
def test_a_dpi_outside_its_range_is_refused(dpi, message, capsys):
    with pytest.raises(SystemExit):
        _analyze_logs().parse_args(['log', '--out', 'curves.png', '--dpi', dpi])
    assert message in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_a_write_that_fails_leaves_the_earlier_curves_and_says_why(work_dirs, tmp_path):
    """A full disk, as a file-size limit makes one: one sentence, the earlier picture as it
    was and no partial file (matplotlib wrote straight into --out before)."""
    out = tmp_path / 'curves.png'
    out.write_bytes(b'earlier curves')
    result = run_with_file_size_limit(sys.executable, 'tools/analysis_tools/analyze_logs.py',
                                      work_dirs['epochs'], '--out', out, limit=2**12)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f'could not write {out} (File too large), the earlier file left as it was: free space '
        f'on that disk or raise the file-size limit (ulimit -f)')
    assert out.read_bytes() == b'earlier curves'
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.mark.skipif(not os.path.isdir('/proc/self') or not os.access('/proc', os.W_OK),
                    reason='needs Linux /proc, which the check of --out lets by (as root)')
def test_a_write_that_fails_for_no_room_reason_is_not_told_to_free_space(work_dirs):
    """/proc passes the check of --out, yet takes no new file: 'No such file or directory'."""
    with pytest.raises(SystemExit) as stop:
        _analyze_logs().main([str(work_dirs['epochs']), '--out', '/proc/c.png'])
    assert stop.value.code == ('could not write /proc/c.png (No such file or directory): give '
                               'another --out, in a folder that takes new files (/proc does '
                               'not)')
