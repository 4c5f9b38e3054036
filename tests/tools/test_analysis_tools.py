"""tools/analysis_tools: get_flops.py, the pieces of benchmark_rga.py and
benchmark_reference_grid.py. get_flops.py runs in this process but once, through its
command line."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rga_mm.apis import init_model
from rga_mm.models.attention import RGA
from rga_mm.testing import TensorMemoryTracker, fastest_seconds, load_script
from tool_runs import run_in_process

ROOT = Path(__file__).parents[2]


DEMO = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
GET_FLOPS = ROOT / 'tools/analysis_tools/get_flops.py'
get_flops = load_script(GET_FLOPS)


def _get_flops(*args) -> subprocess.CompletedProcess:
    """tools/analysis_tools/get_flops.py run on ``args`` in this process, whatever its exit
    status."""
    return run_in_process(get_flops, *args)


def _get_flops_command(*args) -> subprocess.CompletedProcess:
    """``python tools/analysis_tools/get_flops.py ARGS``, whatever its exit status."""
    return subprocess.run([sys.executable, str(GET_FLOPS), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def _flops_output(config, *extra):
    result = _get_flops(config, *extra)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(': ', 1) for line in result.stdout.splitlines() if ': ' in line)
    return int(lines['Params'].split()[0]), int(lines['FLOPs'].split()[0])


def test_get_flops_counts_the_models_parameters_and_the_relation_savings(tmp_path):
    config = tmp_path / 'one_rga.py'
    config.write_text(
        "default_scope = 'rga_mm'\ninput_size = (16, 8)\n"
        "model = dict(type='StageAttentionBackbone', backbone=dict(type='mmpretrain.ResNet',"
        " depth=18, out_indices=(0, ), strides=(1, 1, 1, 1)),"
        " attentions=dict(layer1=dict(type='RGA', in_channels=64, spatial_size=(4, 2),"
        " reduction=2)))\n")
    params, factorized_flops = _flops_output(config)
    model = init_model(config)
    assert params == sum(p.numel() for p in model.parameters())
    _, dense_flops = _flops_output(
        config, '--cfg-options', 'model.attentions.layer1.relation_path=dense')
    # N = 8 nodes, c' = 32, n' = 4 for the spatial gate; C = 64 nodes, d' = 4, c'' = 32 for
    # the channel gate. Dense: N²·c' + 2N·n'·N; factorized: 4·n'·c'·N + n'·N, the last term
    # being ϕ's eval-mode BN shift, which enters its product as a row of ones
    # (docs/architecture.md, "Factorized relations").
    spatial = (8 * 8 * 32 + 2 * 8 * 4 * 8) - (4 * 4 * 32 * 8 + 4 * 8)
    channel = (64 * 64 * 4 + 2 * 64 * 32 * 64) - (4 * 32 * 4 * 64 + 32 * 64)
    assert dense_flops - factorized_flops == spatial + channel


def test_get_flops_keeps_the_uncounted_operators_warning_but_not_the_uncalled_modules():
    """RGA's 1×1 ConvModules run fused, through their weights: mmengine would call them
    never called, though their FLOPs are counted; its uncounted-operator warnings stay, and
    only the FLOP counter's: BatchNorm and adaptive pooling, which it counts, are not named
    (mmengine's activation counter, which does not count them, does not run)."""
    result = _get_flops_command(DEMO)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert 'Unsupported operator aten::sigmoid' in output
    assert 'were never called' not in output
    assert 'aten::batch_norm' not in output and 'aten::adaptive_avg_pool2d' not in output
    assert result.stdout.splitlines()[-1].startswith('FLOPs: ')


@pytest.mark.parametrize('value, short', [(999, '999'), (1000, '1K'), (849_012, '849K'),
                                          (3_064_378, '3.06M'), (5_070_000_000, '5.07G'),
                                          (12_345_678_901_234, '12.3T')])
def test_counts_are_shortened_to_three_significant_digits(value, short):
    assert get_flops.short_count(value) == short


def test_get_flops_names_a_missing_config_or_a_misfit_shape_in_one_sentence(tmp_path):
    missing = tmp_path / 'nonexistent.py'
    result = _get_flops(missing)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f'{missing} does not exist' in result.stderr

    result = _get_flops(DEMO, '--shape', 128, 64)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert "--shape 128 64: StageAttentionBackbone stage 'layer1' " in result.stderr
    assert ('RGA was built for a 16×8 map but received 32×16; build it with '
            'spatial_size=(32, 16)') in result.stderr


def test_get_flops_without_shape_names_the_configs_input_size_in_a_misfit():
    """The size comes from the config's input_size, not from a --shape nobody passed (the
    command line's exit status and stderr)."""
    result = _get_flops_command(DEMO, '--cfg-options',
                                'model.backbone.attentions.layer1.spatial_size=(9,9)')
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert ("the config's input_size (64, 32), used as no --shape was given: "
            "StageAttentionBackbone stage 'layer1' ") in result.stderr
    assert 'RGA was built for a 9×9 map but received 16×8' in result.stderr


def test_get_flops_without_shape_falls_back_to_the_configs_crop_size(tmp_path):
    """A config without input_size (a segmentation config) gives its crop_size, as
    tools/deployment/pytorch2onnx.py reads it; a config with neither is one sentence."""
    model = ("model = dict(type='StageAttentionBackbone', backbone=dict(type='mmpretrain.ResNet',"
             " depth=18, out_indices=(0, ), strides=(1, 1, 1, 1)),"
             " attentions=dict(layer1=dict(type='RGA', in_channels=64, spatial_size=(4, 2),"
             " reduction=2)))\n")
    config = tmp_path / 'crop_size.py'
    config.write_text("default_scope = 'rga_mm'\ncrop_size = (16, 8)\n" + model)
    result = _get_flops(config)
    assert result.returncode == 0, result.stderr
    assert 'Input shape: (3, 16, 8)' in result.stdout

    config.write_text("default_scope = 'rga_mm'\n" + model)
    result = _get_flops(config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert ('the config defines neither input_size nor crop_size: pass --shape H W'
            in result.stderr)


def test_get_flops_prints_a_misfits_shapes_as_plain_integers(tmp_path):
    """Under the FLOP counter's tracer a tensor's sizes are tensors; the channel misfit
    still shows (1, 64, 4, 2), not (tensor(1), tensor(64), ...)."""
    config = tmp_path / 'one_rga.py'
    config.write_text(
        "default_scope = 'rga_mm'\ninput_size = (16, 8)\n"
        "model = dict(type='StageAttentionBackbone', backbone=dict(type='mmpretrain.ResNet',"
        " depth=18, out_indices=(0, ), strides=(1, 1, 1, 1)),"
        " attentions=dict(layer1=dict(type='RGA', in_channels=32, spatial_size=(4, 2),"
        " reduction=2)))\n")
    result = _get_flops(config)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'tensor(' not in result.stderr
    assert ('RGA was built for 32 channels but the feature map has 64 (shape (1, 64, 4, 2))'
            in result.stderr)


@pytest.mark.parametrize('height', ['0', '-64'])
def test_get_flops_refuses_a_shape_below_one_in_one_line(height):
    """argparse refuses it, as tools/deployment/pytorch2onnx.py does, before the model is
    built (it used to reach the first convolution and end in a RuntimeError)."""
    result = _get_flops(DEMO, '--shape', height, 32)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f'get_flops.py: error: argument --shape: must be a positive integer, got {height}')


def _is_relation_sized(shape, num_nodes):
    """Ends in an N×N, 2N×N or N×2N block: R, the stacked relation map or their grads."""
    sizes = {num_nodes, 2 * num_nodes}
    return len(shape) >= 2 and shape[-1] in sizes and shape[-2] in sizes


def test_factorized_path_allocates_no_relation_sized_tensor():
    """Z = (W_row Φᵀ) Θ + (W_col Θᵀ) Φ (docs/architecture.md, "Factorized relations") never
    forms R nor the 2N-channel map.

    Sizes are chosen so that no other tensor of RGA-SC ends in such a block: N = 144
    positions, C = 10 channels, embeddings of 5 (spatial) and 72 (channel) features."""
    x = torch.randn(2, 10, 12, 12)
    counts = {}
    for path in ('dense', 'factorized'):
        module = RGA(10, spatial_size=(12, 12), reduction=2, relation_path=path)
        with TensorMemoryTracker(record_shapes=True) as tracker:
            module(x).sum().backward()
        counts[path] = sum(_is_relation_sized(s, 144) or _is_relation_sized(s, 10)
                           for s in tracker.shapes)
    assert counts['factorized'] == 0
    # R and the stacked map per branch, in the forward pass and as gradients
    assert counts['dense'] >= 8


def test_memory_tracker_follows_allocation_and_release():
    x = torch.randn(1000)
    with TensorMemoryTracker() as tracker:
        a = x * 2  # 4000 bytes
        b = a + 1  # 8000 live
        del a      # 4000 live
        c = b.view(10, 100)  # a view allocates nothing
        d = c * 3  # 8000 live
    assert tracker.peak_bytes == 8000
    assert tracker.largest_bytes == 4000
    assert tracker.live_bytes == 8000
    del b, c, d
    assert tracker.live_bytes == 0


def test_reference_grid_benchmark_prints_mmcvs_agreement_for_every_case():
    pytest.importorskip('mmcv.ops', reason='mmcv was installed without its ops')
    result = subprocess.run(
        [sys.executable, str(ROOT / 'tools/analysis_tools/benchmark_reference_grid.py'),
         '--repeats', '1'], check=True, capture_output=True, text=True, cwd=ROOT)
    rows = [line.split('|')[1:-1] for line in result.stdout.splitlines()
            if line.startswith('|') and '×' in line.split('|')[1] and 'B ×' not in line]
    assert len(rows) == 4
    # mmcv's float32 sample coordinates are the only difference (docs/benchmarks.md)
    assert all(float(row[2]) < 1e-4 for row in rows)


def test_fastest_seconds_excludes_its_warm_up_call():
    calls = []

    def run():
        calls.append(None)
        if len(calls) == 1:
            time.sleep(0.2)  # a slow first call (allocation, caches) is not timed

    assert 0 <= fastest_seconds(run, repeats=3) < 0.1
    assert len(calls) == 4


@pytest.mark.parametrize('grid, sentence', [
    (('--grid', '2', '2'), 'grid 2x2: RGANeck spatial_size=(2, 2) gives 4 reference positions, '
                           'fewer than reduction=8'),
    (('--other-grids', '0'), 'grid 0x0: RGANeck spatial_size must be (h, w) with ints h, w >= 1')])
def test_seg_neck_memory_refuses_a_grid_the_neck_cannot_take_before_measuring(grid, sentence):
    result = run_in_process(
        load_script(ROOT / 'tools/analysis_tools/seg_neck_memory.py', 'seg_neck_memory'), *grid)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr.splitlines()[-1].startswith(f'seg_neck_memory.py: error: {sentence}')
