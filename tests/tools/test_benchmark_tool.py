"""tools/analysis_tools/benchmark.py: its three reports on the demo model, its batch and
baseline checks; the other benchmarks' option checks. Most runs call the scripts' ``main`` in
this process; one run of each script goes through its command line."""
import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rga_mm.apis import init_model
from rga_mm.testing import load_script, timing
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]
DEMO = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
TOOLS = ROOT / 'tools/analysis_tools'
TOOL = TOOLS / 'benchmark.py'


def _start(*args, tool=TOOL) -> subprocess.Popen:
    """Start a benchmark script (the analysis tools import each other from the repository)."""
    return subprocess.Popen([sys.executable, str(tool), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, 'PYTHONPATH': str(ROOT)})


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    """Wait for a script started by ``_start``; its exit status and output."""
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _run(*args, tool=TOOL) -> subprocess.CompletedProcess:
    """Run a benchmark script through its command line."""
    return _finish(_start(*args, tool=tool))


@functools.cache
def _script(name: str) -> ModuleType:
    """The script tools/analysis_tools/``name`` as a module, loaded once."""
    return load_script(TOOLS / name)


def _run_here(*args, tool: str = 'benchmark.py') -> subprocess.CompletedProcess:
    """A benchmark script run on ``args`` as ``_run`` runs it, in this process."""
    return run_in_process(_script(tool), *args)


def _flops(config):
    result = _run_here(config, tool='get_flops.py')
    assert result.returncode == 0, result.stderr
    return int(re.search(r'^FLOPs: (\d+)', result.stdout, re.M).group(1))


def _table_rows(text):
    """The cells of every data row of the PrettyTable tables in ``text``."""
    return [[cell.strip() for cell in line.strip('|').split('|')]
            for line in text.splitlines() if line.startswith('|')]


def test_reports_paths_baseline_ratio_and_every_modules_branches(tmp_path):
    baseline = tmp_path / 'demo_without_attention.py'
    baseline.write_text(f"_base_ = ['{DEMO}']\n"
                        "model = dict(backbone=dict(attentions=dict(_delete_=True)))\n")
    result = _run_here(DEMO, '--baseline', baseline, '--profile', '--batch', 8,
                       '--infer-batch', 2, '--repeats', 1)
    assert result.returncode == 0, result.stderr
    rows = _table_rows(result.stdout)
    assert [row[0] for row in rows if row[0] in ('dense', 'factorized')] == ['dense',
                                                                            'factorized']
    ratios = {row[0]: row for row in rows if row[0].startswith(('inference', 'train step'))}
    assert set(ratios) == {'inference, batch 2', 'train step, batch 8'}
    flop_ratio = _flops(DEMO) / _flops(baseline)
    for row in ratios.values():
        assert row[4] == f'{flop_ratio:.2f}×'
        assert float(row[3].rstrip('×')) == pytest.approx(float(row[2]) / float(row[1]),
                                                          rel=0.02, abs=0.01)
    profile = [row for row in rows if row[2] in ('spatial', 'channel')]
    assert [row[2] for row in profile] == ['spatial', 'channel'] * 4
    assert [row[0] for row in profile[::2]] == [f'backbone.attentions.layer{i}'
                                               for i in range(1, 5)]
    # Every profile cell is its own wall-clock measurement (``fastest_seconds``: one warm-up,
    # then the fastest of --repeats, here 1 run); no column is computed from the others.
    # Noise only adds time, but to any one cell: a single preemption on a loaded CI machine
    # can inflate a 0.1 ms part past the whole branch, or the module total past any k × the
    # sum of its branches. So no relation between the measured columns is asserted here;
    # the relations they hold by construction are checked on a deterministic clock in
    # test_profile_columns_nest_as_the_code_they_time.
    for spatial, channel in zip(profile[::2], profile[1::2]):  # times; one total per module
        assert all(float(ms) >= 0 for ms in spatial[3:] + channel[3:7])
        assert channel[7] == ''


class OpClock(TorchDispatchMode):
    """A clock that advances 1 ms per ATen operation run while it is active: a cost of a
    piece of code that repeats exactly, unlike its wall-clock time."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))

    def perf_counter(self) -> float:
        return self.ops * 1e-3


def test_profile_columns_nest_as_the_code_they_time(monkeypatch):
    """The profile on the op clock: every cell is a count of operations, so the relations
    the timed code has by construction hold exactly (printed as whole milliseconds).

    Per branch, the branch total runs ``RGA.spatial_attention`` / ``channel_attention``,
    i.e. the embeddings (θ, φ, ψ), the relation features ϕ(r_p) and the gate MLP that the
    three part columns time, plus a few cheap operations of its own: the mean over ψ
    (pool_c), the sigmoid, and for the channel branch the node view of x and the reshape
    of the gate. The module total runs both branches plus the two gate multiplications.
    So sum(parts) < branch total ≤ sum(parts) + 8 and sum(branch totals) < module total ≤
    sum(branch totals) + 4: a part that timed something else (say gate_terms, which
    recomputes the embeddings, under 'relations') or a branch total that missed a part
    would break them, and a slack of a handful of operations absorbs how the ATen
    dispatch of a view or a reshape varies between PyTorch versions."""
    benchmark = _script('benchmark.py')
    torch.manual_seed(0)
    work = benchmark.Workload(str(DEMO), 8, 2)
    clock = OpClock()
    monkeypatch.setattr(timing, 'time', clock)  # fastest_seconds reads time.perf_counter()
    with clock:
        report = benchmark.module_profile_report(work, 2)
    rows = [row for row in _table_rows(report) if row[2] in ('spatial', 'channel')]
    assert [row[2] for row in rows] == ['spatial', 'channel'] * 4
    for spatial, channel in zip(rows[::2], rows[1::2]):
        branch_totals = []
        for row in (spatial, channel):
            embeddings, relations, gate_mlp, branch_total = map(float, row[3:7])
            # whole operation counts: the op clock, not the wall clock, timed every cell
            assert all(ms > 0 and ms.is_integer()
                       for ms in (embeddings, relations, gate_mlp, branch_total)), row
            parts = embeddings + relations + gate_mlp
            assert parts < branch_total <= parts + 8, row
            branch_totals.append(branch_total)
        module_total = float(spatial[7])
        assert sum(branch_totals) < module_total <= sum(branch_totals) + 4, (spatial, channel)


@pytest.mark.parametrize('batch', [4, 6])
def test_a_batch_without_two_whole_identities_is_refused_before_any_work(batch):
    result = _run_here(DEMO, '--batch', batch)
    assert result.returncode == 2
    assert '--batch must be a multiple of 4 and at least 8' in result.stderr
    assert 'Training step' not in result.stdout


def test_a_missing_config_is_refused_before_any_work(tmp_path):
    """Through the command line: argparse's exit status and sentence."""
    result = _run(DEMO, '--baseline', tmp_path / 'nope.py')
    assert result.returncode == 2
    assert f'--baseline {tmp_path / "nope.py"} is no config file' in result.stderr
    assert 'Training step' not in result.stdout


@pytest.mark.parametrize('baseline, message', [
    ('configs/reid/baseline_r50-ls1_1xb64-600e_market1501-256x128.py',
     'runs at 256×128 but the model at 64×32; give a baseline config of the same input_size'),
    ('configs/cifar/resnet110_1xb128-64k_cifar10.py',
     'builds the model ImageClassifier, not a re-ID model')])
def test_a_baseline_of_another_size_or_task_is_refused_before_timing(baseline, message):
    result = _run_here(DEMO, '--baseline', ROOT / baseline, '--repeats', 1)
    assert result.returncode == 1
    assert message in result.stderr
    assert 'Training step' not in result.stdout


@pytest.mark.parametrize('tool, args, message', [
    ('benchmark_search.py', ['--repeat', 0], 'argument --repeat: must be a positive integer'),
    ('benchmark_search.py', ['--num-gallery', 1000, '--topk', 2000],
     '--topk 2000 is more than --num-gallery 1000'),
    ('benchmark_metric.py', ['--repeat', 0], 'argument --repeat: must be a positive integer'),
    ('benchmark_metric.py', ['--num-query', 10, '--num-gallery', 50, '--num-distractors', 0,
                             '--num-ids', 5, '--num-cams', 1, '--repeat', 1],
     "--num-cams 1 puts every image under one camera, and the protocol counts no match under "
     "the query's own camera: give --num-cams 2 or more"),
    ('benchmark_metric.py', ['--num-query', 1, '--num-gallery', 1, '--num-distractors', 0,
                             '--num-ids', 100, '--repeat', 1],
     'no query of the random problem (--seed 0) has a match in the gallery under another '
     'camera: give more --num-query or --num-gallery, or fewer --num-ids or '
     '--num-distractors'),
    ('benchmark_rerank.py', ['--sizes', 'market', '--scale', 0.001],
     '--scale 0.001 gives market 20 query and gallery images, but re-ranking with k1 = 20 '
     'needs at least 21: give --scale 0.00101 or more'),
    ('benchmark_rga.py', ['--repeats', 0], 'argument --repeats: must be a positive integer'),
    ('benchmark_rga.py', ['--batch', -1], 'argument --batch: must be a positive integer'),
    ('benchmark_rga.py', ['--threads', 0], 'argument --threads: must be a positive integer'),
    ('benchmark_reference_grid.py', ['--repeats', 0],
     'argument --repeats: must be a positive integer'),
    ('benchmark_rerank.py', ['--scale', 0.01, '--memory-mib', 0.001],
     '--memory-mib 0.001 cannot hold one row of re-ranking work over the 939 query and '
     'gallery images of msmt17 at --scale 0.01: give --memory-mib 0.115 or more (128 bytes '
     'per image)')])
def test_the_other_benchmarks_refuse_counts_and_budgets_below_their_minimum(tool, args,
                                                                           message):
    """In argparse's one-line error, before any work (nothing printed)."""
    result = _run_here(*args, tool=tool)
    assert result.returncode == 2
    assert f'{tool}: error: {message}' in result.stderr
    assert result.stdout == ''


def test_the_smallest_rerank_scale_and_budget_named_run():
    """The smallest --scale of the docstring and --help, at which re-ranking (k1 = 20) gets
    the 21 images it needs, and the smallest --memory-mib named at that scale, run."""
    rerank = _script('benchmark_rerank.py')
    assert [rerank.smallest_scale(size) for size in rerank.SIZES.values()] == [0.00101, 0.000207]
    assert 'smallest ``--scale`` is 0.00101 for ``market`` and 0.000207\nfor ``msmt17``' in \
        rerank.__doc__
    refused = _run_here('--scale', 0.00101, '--memory-mib', 0.0115, tool='benchmark_rerank.py')
    assert refused.returncode == 2 and 'give --memory-mib 0.0116 or more' in refused.stderr
    result = _run_here('--scale', 0.00101, '--memory-mib', 0.0116, '--dim', 8,
                       tool='benchmark_rerank.py')
    assert result.returncode == 0, result.stderr
    assert [row[:3] for row in _table_rows(result.stdout)[2:]] == [['market', '4', '17'],
                                                                  ['msmt17', '12', '83']]


# one refusal of each of the other benchmarks through its command line
COMMAND_LINE_REFUSALS = {
    'benchmark_search.py': (['--max-chunk-mib', 0],
                            'argument --max-chunk-mib: must be a number above 0'),
    'benchmark_rerank.py': (['--scale', -1], 'argument --scale: must be a number above 0'),
    'benchmark_metric.py': (['--num-gallery', 300, '--num-distractors', 400],
                            '--num-distractors 400 leaves no true match in --num-gallery 300')}


@pytest.fixture(scope='module')
def refused_command_lines() -> dict[str, subprocess.CompletedProcess]:
    """The runs of COMMAND_LINE_REFUSALS, started together: each spends its seconds
    importing."""
    started = {tool: _start(*args, tool=TOOLS / tool)
               for tool, (args, _) in COMMAND_LINE_REFUSALS.items()}
    return {tool: _finish(process) for tool, process in started.items()}


@pytest.mark.parametrize('tool', list(COMMAND_LINE_REFUSALS))
def test_the_other_benchmarks_command_lines_refuse_counts_and_budgets_below_their_minimum(
        tool, refused_command_lines):
    result = refused_command_lines[tool]
    assert result.returncode == 2
    assert COMMAND_LINE_REFUSALS[tool][1] in result.stderr


def test_a_config_of_another_task_is_refused_before_timing():
    """A CIFAR config was benchmarked with re-ID P×K batches, a Cityscapes one crashed."""
    config = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
    result = _run_here(config, '--repeats', 1)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'{config} builds the model ImageClassifier, not a re-ID model: this benchmark times '
        f're-ID training steps on P×K batches and re-ID embeddings; give a re-ID config '
        f'(tools/analysis_tools/get_flops.py counts the FLOPs of any config)')
    assert result.stdout == ''


def test_a_config_without_a_model_is_named_in_one_sentence(tmp_path):
    config = tmp_path / 'no_model.py'
    config.write_text('x = 1\n')
    result = _run_here(config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f'the config {config} has no model to build: it needs model=dict(type=..., ...)')


def test_search_lists_that_differ_only_among_ties_are_the_same():
    """benchmark_search.py compares the blockwise and the full-matrix top k: tied items in
    another order, or another of the items tied with the k-th, are the same lists (with
    1-d features every cosine distance is 0 or 2, and it said 'False')."""
    same = _script('benchmark_search.py').same_lists
    distances = torch.tensor([[0., 0., 1., 2.]])
    listed = (distances, torch.tensor([[3, 5, 1, 7]]))
    assert same(listed, (distances, torch.tensor([[5, 3, 1, 7]])))
    assert same(listed, (distances, torch.tensor([[3, 5, 1, 8]])))
    assert not same(listed, (distances, torch.tensor([[3, 6, 1, 7]])))
    assert not same(listed, (distances + 1e-3, listed[1]))


GPU_TRAIN_BATCH = ('--batch must be a multiple of 4 and at least 8 (P identities × 4 images, '
                   'P ≥ 2 for the triplet loss), got 0')


@pytest.mark.parametrize('args, message', [
    (['--iters', -1], 'argument --iters: must be a positive integer, got -1'),
    (['--iters', 0], 'argument --iters: must be a positive integer, got 0'),
    (['--warmup', -5], 'argument --warmup: must be at least 0, got -5'),
    (['--batch', 0], GPU_TRAIN_BATCH),
    (['--batch', 3008], "--batch 3008 draws 752 identities of 4 images but each model's head "
                        'classifies 751 (num_classes): give --batch 3004 or less')])
def test_gpu_train_benchmark_refuses_counts_it_cannot_time_before_building_a_model(args,
                                                                                  message):
    """A negative --iters printed a negative images/s and exited 0; --iters 0 and --batch 0
    became the defaults; a batch of more identities than the heads classify failed after
    the model was built and run."""
    result = _run_here('--device', 'cpu', '--models', 'baseline', *args,
                       tool='gpu_train_benchmark.py')
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == f'gpu_train_benchmark.py: error: {message}'


@pytest.mark.parametrize('args, expected', [
    ([], dict(batch=64, warmup=5, iters=20)),
    (['--device', 'cpu'], dict(batch=8, warmup=1, iters=1)),
    (['--device', 'cpu', '--warmup', 0, '--batch', 3004], dict(batch=3004, warmup=0, iters=1))])
def test_gpu_train_benchmark_defaults_follow_the_device_and_zero_warmup_stays(args, expected):
    args = vars(_script('gpu_train_benchmark.py').parse_args([str(arg) for arg in args]))
    assert {key: args[key] for key in expected} == expected


@pytest.mark.parametrize('batch, num_classes, named', [
    (248, None, str(DEMO)), (160, 30, '--baseline {baseline}')])
def test_a_batch_of_more_identities_than_the_head_classifies_is_refused_before_any_step(
        tmp_path, batch, num_classes, named):
    """The batch labels its P = batch / 4 identities 0 … P − 1, so the demo's head of 60
    classes takes 240 images at most; a larger one failed in the first training step."""
    baseline = tmp_path / 'fewer_classes.py'
    baseline.write_text(f"_base_ = ['{DEMO}']\nmodel = dict(head=dict(num_classes=30))\n")
    extra = ['--baseline', baseline] if num_classes else []
    result = _run_here(DEMO, '--batch', batch, '--infer-batch', 1, '--repeats', 1, *extra)
    most = 4 * (num_classes or 60)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.strip() == (
        f'--batch {batch} draws {batch // 4} identities of 4 images but the head of '
        f'{named.format(baseline=baseline)} classifies {num_classes or 60} (num_classes): '
        f'give --batch {most} or less')


def test_the_largest_batch_the_head_classifies_passes_the_check():
    benchmark = _script('benchmark.py')
    benchmark.check_batch_identities(init_model(str(DEMO)), str(DEMO), 240)


@pytest.mark.parametrize('tool, args, option', [
    ('benchmark_search.py', ['--num-gallery', 10, '--num-query', 2, '--dim', 4,
                             '--max-chunk-mib', 'inf'], '--max-chunk-mib'),
    ('benchmark_rerank.py', ['--scale', 'inf'], '--scale'),
    ('benchmark_rerank.py', ['--memory-mib', 'inf'], '--memory-mib')])
def test_the_other_benchmarks_refuse_an_infinite_budget_or_scale(tool, args, option):
    """``inf`` passed as a number above 0 and ended in an OverflowError."""
    result = _run_here(*args, tool=tool)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == (
        f'{tool}: error: argument {option}: must be a finite number above 0, got inf')


@pytest.mark.parametrize('tool, args', [
    ('benchmark_metric.py', ['--num-query', 10, '--num-gallery', 50, '--num-distractors', 0,
                             '--num-ids', 5, '--repeat', 1]),
    ('benchmark_rerank.py', ['--scale', 0.00101, '--memory-mib', 0.0116, '--dim', 8]),
    ('generate_synthetic_reid.py', [])])
def test_a_negative_seed_is_refused_in_argparse(tmp_path, tool, args):
    """NumPy's ``expected non-negative integer`` came as a traceback or a bare line."""
    if tool == 'generate_synthetic_reid.py':
        script = load_script(ROOT / 'tools/misc' / tool)
        args = [tmp_path / 'synthetic', *args]
    else:
        script = _script(tool)
    result = run_in_process(script, *args, '--seed', -1)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1] == (
        f'{tool}: error: argument --seed: must be at least 0, got -1')
    assert not (tmp_path / 'synthetic').exists()


def test_every_benchmark_metric_option_has_a_help_text_naming_its_default(monkeypatch):
    parser = _script('benchmark_metric.py').build_parser()
    helps = {action.option_strings[-1]: action.help or '' for action in parser._actions
             if action.dest != 'help'}
    assert [option for option, text in helps.items() if 'default' not in text] == []
    monkeypatch.setenv('COLUMNS', '500')  # one line per option
    result = _run_here('--help', tool='benchmark_metric.py')
    assert result.returncode == 0
    assert '--seed SEED seed of the random problem, 0 or more (default: 0)' in ' '.join(
        result.stdout.split())
