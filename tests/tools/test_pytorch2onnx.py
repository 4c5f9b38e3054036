"""tools/deployment/pytorch2onnx.py: the re-ID, CIFAR and segmentation models of the paper
(§4.1-4.3) exported to ONNX and run by ONNX Runtime, and RGA's variable-size reference grid
(§4.2, Discussion) as two plain MatMuls in the graph.

Besides the tool's own check (ONNX Runtime against PyTorch, both float32), each file is
checked here independently: ONNX Runtime on new random images against the model's own
PyTorch path (``mode='tensor'``; mmseg's ``encode_decode`` for the segmentor) run in
float64, the exact function the file should compute; relative difference
max |Δ| / max |reference| ≤ 1e-4.
"""
import copy
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from onnx import numpy_helper
from torch import nn

from rga_mm.apis import ReIDInferencer, init_model
from rga_mm.deployment.arguments import input_size_note
from rga_mm.deployment.onnx_export import (
    ExportError,
    export_onnx,
    preprocessing_of,
    relative_difference,
)
from rga_mm.models.attention import RGA
from rga_mm.models.attention.reference_grid import pooling_matrix
from rga_mm.testing import load_script
from tool_runs import run_in_process, run_with_file_size_limit

ROOT = Path(__file__).parents[2]
TOOL = ROOT / 'tools/deployment/pytorch2onnx.py'
REID_CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
CIFAR_CONFIG = ROOT / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'
CIFAR_OPTIONS = {'model.backbone.backbone.depth': 8}  # one block per stage; RGA after layer1
SEG_CONFIG = ROOT / 'configs/cityscapes/pspnet_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769.py'
# the config itself (SyncBN included), shrunk to ResNet-18 and a 5×5 reference grid
SEG_OPTIONS = {
    'model.pretrained': None, 'model.backbone.depth': 18, 'model.neck.in_channels': 512,
    'model.neck.spatial_size': (5, 5), 'model.decode_head.in_channels': 1024,
    'model.decode_head.channels': 16, 'model.auxiliary_head.in_channels': 256,
    'model.auxiliary_head.channels': 8}
TARGET = 1e-4

# a classifier of one ResNet stage (two blocks of 64 channels) on 8×8 images, for the checks
# of the tool that hold for any model: its export is quick, its file 600 kB
TINY_CONFIG = """
model = dict(
    type='mmpretrain.ImageClassifier',
    data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor'),
    backbone=dict(type='mmpretrain.ResNet_CIFAR', depth=18, num_stages=1, out_indices=(0, ),
                  strides=(1, ), dilations=(1, )),
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(type='mmpretrain.LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='mmpretrain.CrossEntropyLoss')))
input_size = (8, 8)
"""
pytestmark = pytest.mark.slow  # each export takes a few seconds


def _cli(options: dict) -> list[str]:
    return ['--cfg-options', *(f'{key}={value}'.replace(' ', '') for key, value in
                               options.items())]


@pytest.fixture(scope='module')
def script():
    return load_script(TOOL, 'pytorch2onnx')


@pytest.fixture(scope='module')
def tool(script):
    return lambda *argv: script.main([str(arg) for arg in argv])


def _trained_like(model: nn.Module, shape: tuple, batches: int = 4) -> nn.Module:
    """Give every BN a trained network's kind of values: scales in [0.5, 1.5], shifts in
    [0, 0.5] (frozen ones, BNNeck's bias, stay), statistics of images of varied brightness
    and colour. A freshly built network shrinks its activations layer by layer, and BN
    statistics of plain noise leave the demo's RGA network ill-conditioned: its own float32
    embedding is then up to 3e-4 (relative) away from float64, which no export can beat.
    These weights give about 3e-5, as the trained demo's do."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the batches below
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5, generator=generator)
                if module.bias.requires_grad:
                    module.bias.uniform_(0.0, 0.5, generator=generator)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            images = torch.randn(16, 3, *shape, generator=generator)
            contrast = torch.rand(16, 1, 1, 1, generator=generator) * 1.5 + 0.25
            model(images * contrast + torch.randn(16, 3, 1, 1, generator=generator) * 0.7,
                  mode='tensor')
    return model.eval()


def _save(model: nn.Module, path: Path) -> Path:
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def reid(tmp_path_factory):
    model = _trained_like(init_model(REID_CONFIG), (64, 32))
    return model, _save(model, tmp_path_factory.mktemp('reid') / 'reid.pth')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The :data:`TINY_CONFIG` file and a checkpoint of its model."""
    folder = tmp_path_factory.mktemp('tiny')
    config = folder / 'tiny.py'
    config.write_text(TINY_CONFIG)
    return config, _save(init_model(config), folder / 'tiny.pth')


@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    model = _trained_like(init_model(CIFAR_CONFIG, cfg_options=CIFAR_OPTIONS), (32, 32))
    return model, _save(model, tmp_path_factory.mktemp('cifar') / 'cifar.pth')


def _float64(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double()


def _onnxruntime_relative(path: Path, reference_fn, shape: tuple, batch: int) -> float:
    """max |Δ| / max |reference| of the file on new random images of ``batch``;
    ``reference_fn`` gets them in float64."""
    images = torch.randn(batch, 3, *shape, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        reference = reference_fn(images.double()).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    result, = session.run(None, {'input': images.numpy()})
    assert result.shape == reference.shape
    return float(np.abs(result - reference).max() / np.abs(reference).max())


def _printed_relative(stdout: str) -> list[float]:
    return [float(line.split('relative ')[1].split()[0]) for line in stdout.splitlines()
            if line.startswith('ONNX Runtime vs PyTorch')]


def test_relative_difference_is_max_abs_over_the_largest_reference_value():
    reference = np.array([[1.0, -4.0], [2.0, 0.5]], dtype=np.float32)
    result = reference + np.array([[0.5, 0.0], [-0.25, 0.0]], dtype=np.float32)
    assert relative_difference(reference, result) == (0.5, 0.125)
    assert relative_difference(np.zeros(3), np.zeros(3)) == (0.0, 0.0)


READS_BGR = 'the test pipeline reads image files as BGR'
HOLDS_RGB = 'the dataset holds RGB images'


@pytest.mark.parametrize('config, options, order, source', [
    (REID_CONFIG, {}, 'rgb', f'{READS_BGR} and the data preprocessor reverses that order'),
    (CIFAR_CONFIG, {}, 'rgb', f'{HOLDS_RGB} and the data preprocessor keeps that order'),
    (SEG_CONFIG, {}, 'rgb', f'{READS_BGR} and the data preprocessor reverses that order'),
    (REID_CONFIG, {'model.data_preprocessor.to_rgb': False}, 'bgr',
     f'{READS_BGR} and the data preprocessor keeps that order'),
    (CIFAR_CONFIG, {'data_preprocessor.to_rgb': True}, 'bgr',
     f'{HOLDS_RGB} and the data preprocessor reverses that order'),
], ids=['reid', 'cifar', 'cityscapes', 'reid-bgr', 'cifar-bgr'])
def test_the_channel_order_the_graph_takes_is_named(config, options, order, source):
    """The test pipeline's order (BGR from files, RGB from CIFAR's arrays), reversed when
    the data preprocessor swaps channels, in the printed text and in the metadata."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    preprocessing = preprocessing_of(cfg)
    assert preprocessing.channel_order == order
    hint = ('images read with cv2 or mmcv are BGR: reverse their channels' if order == 'rgb'
            else 'as cv2 and mmcv read images')
    assert (f'channels in {order.upper()} order ({source}; {hint})'
            in preprocessing.describe((8, 8)))
    assert json.loads(preprocessing.to_json())['channel_order'] == order


def test_a_config_without_a_test_pipeline_says_the_order_is_unknown():
    cfg = Config(dict(model=dict(data_preprocessor=dict(mean=[0] * 3, std=[1] * 3))))
    preprocessing = preprocessing_of(cfg)
    assert preprocessing.channel_order is None
    assert 'which the config does not tell (no test_dataloader.dataset.pipeline)' in (
        preprocessing.describe((8, 8)))


def test_reid_embedding_from_the_command_line(script, reid, tmp_path):
    """§4.1's network (the demo's ResNet-18 + RGA-SC): images → post-BN test embedding."""
    model, checkpoint = reid
    out = tmp_path / 'reid.onnx'
    result = run_in_process(script, REID_CONFIG, checkpoint, '--out', out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(tmp_path.iterdir()) == [out]  # no temporary file left
    assert "output 'embedding' (1, 512)" in result.stdout
    assert "input 'input' (1, 3, 64, 32)" in result.stdout
    # the preprocessing the user must apply, from the config's data preprocessor
    assert ('channels in RGB order (the test pipeline reads image files as BGR and the data '
            'preprocessor reverses that order; images read with cv2 or mmcv are BGR: reverse '
            'their channels)' in result.stdout)
    assert ('mean = (123.675, 116.28, 103.53) and std = (58.395, 57.12, 57.375)'
            in result.stdout)
    relative, = _printed_relative(result.stdout)
    assert relative <= TARGET

    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props['preprocessing']) == dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], reverse_channels=True,
        channel_order='rgb')
    assert (json.loads(props['input_size']), json.loads(props['dynamic_batch'])) == (
        [64, 32], False)
    exact = _float64(model)
    assert _onnxruntime_relative(out, lambda x: exact(x, mode='tensor'), (64, 32), 1) <= TARGET
    # the deployment snippet of docs/inference_deployment.md, which reads size and
    # preprocessing from the file, on an image of another size
    # (BGR, as cv2 writes it): left half red, right half blue, green rising down the image,
    # so that a wrong channel order changes the embedding
    image = np.zeros((100, 40, 3), np.uint8)
    image[:, :20, 2] = image[:, 20:, 0] = 220
    image[:, :, 1] = np.linspace(0, 160, 100, dtype=np.uint8)[:, None]
    cv2.imwrite(str(tmp_path / 'query.jpg'), image)
    embedding = _run_deployment_snippet(tmp_path)
    assert embedding.shape == (1, 512)
    # the same file through the package's own inference (test pipeline + data preprocessor)
    reference = ReIDInferencer(REID_CONFIG, str(checkpoint), device='cpu',
                               show_progress=False)(str(tmp_path / 'query.jpg'))
    reference = reference.double().numpy()
    # two float32 paths, each within TARGET of the exact function: within 2 × TARGET
    assert relative_difference(reference, embedding)[1] <= 2 * TARGET
    # the channel-reversed image gives a clearly different embedding
    cv2.imwrite(str(tmp_path / 'query.jpg'), np.ascontiguousarray(image[:, :, ::-1]))
    reversed_relative = relative_difference(reference, _run_deployment_snippet(tmp_path))[1]
    assert reversed_relative > 100 * TARGET


def _run_deployment_snippet(folder: Path) -> np.ndarray:
    """The ``embedding`` of docs/inference_deployment.md's ONNX Runtime snippet, run in
    ``folder`` (where it finds reid.onnx and query.jpg)."""
    text = (ROOT / 'docs/inference_deployment.md').read_text()
    snippet, = re.findall(r'```python\n(import json, cv2.*?)```', text, re.DOTALL)
    namespace = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        exec(snippet, namespace)
    return namespace['embedding']


@pytest.mark.parametrize('dynamic_batch', [False, True], ids=['fixed', 'dynamic'])
def test_the_file_names_its_input_size_and_batch(tmp_path, dynamic_batch):
    """With the caller's own metadata, whatever the caller."""
    out = tmp_path / 'conv.onnx'
    export_onnx(nn.Conv2d(3, 4, 1).eval(), out, (6, 5), dynamic_batch, metadata={'a': 'b'})
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props == {'a': 'b', 'input_size': '[6, 5]',
                     'dynamic_batch': 'true' if dynamic_batch else 'false'}


def test_cifar_classifier_logits_at_a_chosen_opset(tool, cifar, tmp_path, capsys):
    """§4.3's classifier: CIFAR ResNet + RGA-SC after layer1, mmpretrain's ImageClassifier."""
    model, checkpoint = cifar
    out = tmp_path / 'cifar.onnx'
    tool(CIFAR_CONFIG, checkpoint, '--out', out, '--opset', 18, *_cli(CIFAR_OPTIONS))
    stdout = capsys.readouterr().out
    assert "(opset 18)" in stdout and "output 'logits' (1, 10)" in stdout
    # the data preprocessor of the dataset base (top level, merged by the Runner)
    # CIFAR's dataset holds RGB arrays and to_rgb=False keeps them: the graph takes RGB
    assert ('channels in RGB order (the dataset holds RGB images and the data preprocessor '
            'keeps that order; images read with cv2 or mmcv are BGR' in stdout)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props['preprocessing'])['channel_order'] == 'rgb'
    assert 'mean = (125.307, 122.961, 113.8575)' in stdout
    assert _printed_relative(stdout)[0] <= TARGET
    assert onnx.load(str(out)).opset_import[0].version == 18
    exact = _float64(model)
    assert _onnxruntime_relative(out, lambda x: exact(x, mode='tensor'), (32, 32), 1) <= TARGET


def test_segmentor_at_another_size_with_a_dynamic_batch(tool, tmp_path, capsys):
    """§4.2's PSPNet + RGA-SC neck, built for a 5×5 grid and run on a 6×10 map (48×80
    input): the neck pools onto its grid (variable size). With ``--dynamic-batch`` one file
    serves batches 1 and 3, each equal to mmseg's whole-image inference."""
    model = init_model(SEG_CONFIG, cfg_options=SEG_OPTIONS)
    assert type(model.backbone.layer1[0].bn1).__name__ == 'SyncBatchNorm'
    model = _trained_like(revert_sync_batchnorm(model), (48, 80), batches=2)
    assert model.neck.rga.spatial_size == (5, 5) and model.neck.rga.variable_size
    with torch.no_grad():
        assert model.extract_feat(torch.zeros(1, 3, 48, 80))[-1].shape[-2:] == (6, 10)
    checkpoint = _save(model, tmp_path / 'pspnet.pth')
    out = tmp_path / 'pspnet.onnx'

    tool(SEG_CONFIG, checkpoint, '--out', out, '--shape', 48, 80, '--dynamic-batch',
         *_cli(SEG_OPTIONS))
    stdout = capsys.readouterr().out
    assert "input 'input' ('batch', 3, 48, 80)" in stdout
    assert "output 'seg_logits' ('batch', 19, 48, 80)" in stdout
    assert [line.split(':')[0][-7:] for line in stdout.splitlines()
            if line.startswith('ONNX Runtime')] == ['batch 1', 'batch 3']
    assert all(relative <= TARGET for relative in _printed_relative(stdout))

    exact = _float64(model)

    def mmseg_whole_inference(images):
        metas = [dict(img_shape=(48, 80), pad_shape=(48, 80))] * len(images)
        return exact.encode_decode(images, metas)

    for batch in (1, 3):
        assert _onnxruntime_relative(out, mmseg_whole_inference, (48, 80), batch) <= TARGET


def _on_images(rga: RGA) -> nn.Module:
    """An RGA module behind a 1×1 conv, so that it reads a (B, 3, H, W) batch."""
    return nn.Sequential(nn.Conv2d(3, rga.in_channels, 1), rga).eval()


def _node_inputs(graph, node) -> list:
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return [constants.get(name) for name in node.input]


def test_variable_size_rga_exports_its_reference_grid_as_two_matmuls(tmp_path):
    """A 7×9 map pooled onto a 5×5 grid: A_h · X · A_wᵀ with RoIAlign's pooling matrices
    as constants of the graph; standard ONNX operators only, no RoIAlign, no custom domain."""
    module = _on_images(RGA(16, (5, 5), reduction=2, variable_size=True))
    out = tmp_path / 'rga.onnx'
    export_onnx(module, out, (7, 9))  # the tool's export, on a bare module
    model = onnx.load(str(out))
    graph = model.graph
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}
    assert {opset.domain for opset in model.opset_import} <= {'', 'ai.onnx'}
    assert not any('roi' in node.op_type.lower() for node in graph.node)
    rows = pooling_matrix(7, 5, torch.float32).numpy()
    cols = pooling_matrix(9, 5, torch.float32).numpy().T
    pooled_rows = pooled_cols = 0
    for node in graph.node:
        if node.op_type == 'MatMul':
            left, right = _node_inputs(graph, node)
            pooled_rows += left is not None and np.array_equal(left, rows)
            pooled_cols += right is not None and np.array_equal(right, cols)
    assert pooled_rows >= 1 and pooled_cols >= 1

    assert _onnxruntime_relative(out, _float64(module), (7, 9), 1) <= TARGET
    # exporting leaves the module's eager path intact (no traced tensor cached for 7×9)
    assert type(module(torch.randn(1, 3, 7, 9))) is torch.Tensor


def test_fixed_size_rga_leaves_the_batch_free(tmp_path):
    """RGA built for 5×5 checks every map's size; the check reads (H, W) only, so a
    dynamic-batch file serves batches 1 and 3."""
    module = _on_images(RGA(16, (5, 5), reduction=2))
    out = tmp_path / 'rga.onnx'
    exported = export_onnx(module, out, (5, 5), dynamic_batch=True)
    assert exported.input_shape == ('batch', 3, 5, 5)
    for batch in (1, 3):
        assert _onnxruntime_relative(out, _float64(module), (5, 5), batch) <= TARGET


class _ReadsItsBatchSize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(int(x.shape[0]), -1)


def test_a_model_that_fixes_its_batch_is_refused_for_a_dynamic_batch(tmp_path):
    """torch.export fixes a size the forward reads as a number; the file would take only
    batches of 2 while saying the batch is free."""
    out = tmp_path / 'model.onnx'
    with pytest.raises(ExportError, match=r'^a free batch size was asked for, but the model '
                                          r'fixed it at 2 while being exported'):
        export_onnx(_ReadsItsBatchSize(), out, (4, 4), dynamic_batch=True)
    assert not out.exists()


def test_an_example_input_too_large_to_allocate_is_one_sentence(tmp_path):
    """A 3 TB example image (--shape 500000 500000): the allocator's RuntimeError was a
    traceback."""
    out = tmp_path / 'model.onnx'
    with pytest.raises(ExportError, match=r'^cannot allocate an example input of '
                                          r'500000×500000 pixels to trace the model with '
                                          r'\(.*\); give a smaller --shape$'):
        export_onnx(_on_images(RGA(16, (5, 5), reduction=2, variable_size=True)), out,
                    (500000, 500000))
    assert not out.exists()


def test_opset_the_exporter_cannot_write_is_refused(tmp_path, caplog):
    """In one sentence: onnxscript's warnings (the failed conversion with the traceback of
    onnx's C API, constant folding left out for RGA's Split) are not logged."""
    module = _on_images(RGA(16, (5, 5), reduction=2))
    out = tmp_path / 'rga.onnx'
    with pytest.raises(ExportError,
                       match=r'opset 17 was asked for but the exporter wrote opset 18'):
        export_onnx(module, out, (5, 5), opset=17)
    assert not out.exists()
    assert [record.name for record in caplog.records
            if record.name.startswith('onnxscript')] == []


def test_opset_newer_than_onnx_defines_is_refused_up_front(tool, tmp_path):
    """Before the model is built (the checkpoint is not even looked for), not after an
    export that onnx's version converter rejects."""
    newest = onnx.defs.onnx_opset_version()
    message = re.escape(f'opset {newest + 1} is newer than opset {newest}, the newest the '
                        f'installed onnx defines and so the newest the exporter can write; '
                        f'ask for opset {newest} or older')
    with pytest.raises(SystemExit, match=f'^--{message}$'):
        tool(REID_CONFIG, tmp_path / 'missing.pth', '--out', tmp_path / 'reid.onnx', '--opset',
             newest + 1)
    module = _on_images(RGA(16, (5, 5), reduction=2))
    with pytest.raises(ExportError, match=f'^{message}$'):
        export_onnx(module, tmp_path / 'rga.onnx', (5, 5), opset=newest + 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('given', ['checkpoint', 'config', 'other'])
def test_out_that_would_replace_an_input_or_another_file_is_refused(tool, tmp_path, given):
    """Before the checkpoint is read (its bytes here are no checkpoint); the files stay."""
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'weights')
    config = tmp_path / 'config.py'
    config.write_text(REID_CONFIG.read_text())
    other = tmp_path / 'notes.txt'
    other.write_text('notes')
    out = dict(checkpoint=checkpoint, config=config, other=other)[given]
    before = out.read_bytes()
    message = (f'--out: the output {out} would overwrite the input {out}; choose another path'
               if given != 'other' else f'--out {out} does not end in .onnx, an existing file '
               f'that the export would replace; give a path ending in .onnx, e.g. '
               f'{tmp_path / "notes.onnx"}')
    with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
        tool(config, checkpoint, '--out', out)
    assert out.read_bytes() == before


def test_out_ends_in_onnx_in_any_case(tool, tmp_path):
    """An earlier ``model.ONNX`` is replaced like any export (the tool goes on to read the
    checkpoint); a name without the suffix is refused before anything is read or any folder
    made, whether the file exists or not, so no export writes a file that the next one
    refuses."""
    missing = tmp_path / 'missing.pth'
    earlier = tmp_path / 'model.ONNX'
    earlier.write_bytes(b'an earlier export')
    with pytest.raises(SystemExit, match=f'^checkpoint file {re.escape(str(missing))} does not '
                                         f'exist$'):
        tool(REID_CONFIG, missing, '--out', earlier)
    with pytest.raises(SystemExit) as stop:
        tool(REID_CONFIG, missing, '--out', tmp_path / 'model')
    assert str(stop.value) == (f'--out {tmp_path / "model"} does not end in .onnx; give a path '
                               f'ending in .onnx, e.g. {tmp_path / "model.onnx"}')
    with pytest.raises(SystemExit, match='does not end in .onnx'):  # its folder not made
        tool(REID_CONFIG, missing, '--out', tmp_path / 'exports' / 'model.pt')
    assert sorted(tmp_path.iterdir()) == [earlier]


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_an_export_past_the_file_size_limit_leaves_the_earlier_file(tiny, tmp_path):
    """A full disk, as a file-size limit makes one, while the file is written: one sentence,
    the earlier export as it was and no temporary file."""
    out = tmp_path / 'tiny.onnx'
    out.write_bytes(b'an earlier export')
    result = run_with_file_size_limit(sys.executable, TOOL, *tiny, '--out', out,
                                      limit=2**16)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f'could not write {out} (File too large), the earlier file left as it was: free space '
        f'on that disk or raise the file-size limit (ulimit -f), and export again')
    assert out.read_bytes() == b'an earlier export'
    assert sorted(tmp_path.iterdir()) == [out]


def test_a_size_other_than_the_tested_one_gets_a_note():
    """Re-ID and CIFAR configs test at input_size; segmentation runs whole images."""
    reid = Config(dict(input_size=(64, 32)))
    assert input_size_note(reid, None) is None and input_size_note(reid, (64, 32)) is None
    assert input_size_note(reid, (61, 29)) == (
        'Note: the config trains and tests at input_size 64×32; this file takes 61×29 images '
        '(its input_size metadata), so resize images to 61×29')
    seg = Config(dict(crop_size=(769, 769)))
    assert input_size_note(seg, (1024, 2048)) is None
    assert input_size_note(seg, None) == (
        "Note: this file takes 769×769 images, the config's training crop_size, but the "
        'config tests whole images at their own size; export at the size of your images with '
        '--shape H W (e.g. --shape 1024 2048 for Cityscapes) rather than resizing them to '
        '769×769')


def test_out_folder_gets_an_onnx_name_to_suggest(tool, tmp_path):
    message = re.escape(f'--out {tmp_path} is a folder; give a file name in it, e.g. '
                        f'{tmp_path / "model.onnx"}')
    with pytest.raises(SystemExit, match=f'^{message}$'):
        tool(REID_CONFIG, tmp_path / 'missing.pth', '--out', tmp_path)


@pytest.mark.parametrize('option', [('--shape', 0, 32), ('--shape', -64, 32), ('--opset', 0)])
def test_shape_or_opset_below_one_is_refused_by_argparse(tool, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        tool(REID_CONFIG, tmp_path / 'missing.pth', '--out', tmp_path / 'reid.onnx', *option)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f': error: argument {option[0]}: must be a positive integer, got {option[1]}')


@pytest.mark.parametrize('value', ['-1', '0', 'nan'])
def test_a_tolerance_that_no_export_can_meet_is_refused_by_argparse(tool, tmp_path, capsys,
                                                                     value):
    with pytest.raises(SystemExit) as exit_info:
        tool(REID_CONFIG, tmp_path / 'missing.pth', '--out', tmp_path / 'reid.onnx',
             '--max-relative-diff', value)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f': error: argument --max-relative-diff: must be a number above 0, got {value}')


def test_missing_checkpoint_is_named(tool, tmp_path):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(SystemExit, match=f'checkpoint file {missing} does not exist'):
        tool(REID_CONFIG, missing, '--out', tmp_path / 'reid.onnx')


def test_checkpoint_of_another_model_is_refused(tool, cifar, tmp_path):
    """A CIFAR checkpoint for the re-ID model: counted as another model's."""
    with pytest.raises(SystemExit, match=(
            rf"^checkpoint {re.escape(str(cifar[1]))} does not fit the model built from the "
            rf"config: it misses \d+ of the model's \d+ keys \(backbone.backbone.conv1.weight, "
            rf".* and holds \d+ tensors of other shapes than the model's \(backbone.attentions."
            rf"layer1.spatial_gate.theta.conv.weight, .*pass --partial-load")):
        tool(REID_CONFIG, cifar[1], '--out', tmp_path / 'reid.onnx')


# the end of an export's refusal of a size that a module built for another map size refuses
TRAINED_SIZE_NOTE = (r' the checkpoint\'s weights fit the map sizes the config builds, so a '
                     r'module rebuilt with another spatial_size would not load them: export at '
                     r'the config\'s input size, or set variable_size=True on its RGA modules, '
                     r'which take other sizes with the same weights$')


def test_shape_a_fixed_size_rga_refuses_is_named(tool, reid, tmp_path):
    """The demo's RGA modules are built for a 64×32 input (16×8 after layer1)."""
    out = tmp_path / 'reid.onnx'
    with pytest.raises(SystemExit, match=r'does not accept a 128×64 input \(1, 3, 128, 64\): '
                                         r"StageAttentionBackbone stage 'layer1' "
                                         r"\(attentions\['layer1'\]\): RGA was built for a "
                                         r'16×8 map but received 32×16; .*'
                                         + TRAINED_SIZE_NOTE):
        tool(REID_CONFIG, reid[1], '--out', out, '--shape', 128, 64)
    assert not out.exists()


def test_shape_a_fixed_size_segmentation_neck_refuses_is_named_with_the_same_note(tool,
                                                                                  tmp_path):
    """The RGANeck built for a 5×5 map without variable_size, asked for a 48×80 input (a
    6×10 map): its sentence ends, as a backbone RGA module's, in the note that the
    checkpoint's weights fit the config's sizes only."""
    options = {**SEG_OPTIONS, 'model.neck.variable_size': False}
    checkpoint = _save(init_model(SEG_CONFIG, cfg_options=options), tmp_path / 'pspnet.pth')
    out = tmp_path / 'pspnet.onnx'
    with pytest.raises(SystemExit, match=r'does not accept a 48×80 input \(1, 3, 48, 80\): '
                                         r'.*RGANeck was built for a 5×5 map .*'
                                         + TRAINED_SIZE_NOTE):
        tool(SEG_CONFIG, checkpoint, '--out', out, '--shape', 48, 80, *_cli(options))
    assert not out.exists()


def _refusal(printed: str, out: Path, rejected: Path, earlier: bool) -> str:
    """The refusal of an export above a 1e-12 target, as the numbers ``printed`` give it."""
    max_abs, relative = re.search(r'max \|Δ\| = (\S+), relative (\S+) ', printed).groups()
    left = f'{out} is left as it was' if earlier else f'nothing is written to {out}'
    return (rf'the export differs from PyTorch by {relative} relative to the largest output '
            rf'\(max \|Δ\| {max_abs}, largest \|output\| (\S+)\), above the target 1e-12: '
            rf'it is kept for inspection as {re.escape(str(rejected))}, and '
            rf'{re.escape(left)}; do not deploy it \(outputs near 0, as of untrained weights, '
            rf'make any relative difference large\)')


def test_a_difference_above_the_target_exits_nonzero(tool, tiny, tmp_path, capsys):
    out = tmp_path / 'tiny.onnx'
    rejected = tmp_path / 'tiny.rejected.onnx'
    with pytest.raises(SystemExit) as stop:
        tool(*tiny, '--out', out, '--max-relative-diff', 1e-12)
    printed = capsys.readouterr().out
    assert sorted(tmp_path.iterdir()) == [rejected] and 'ONNX Runtime vs PyTorch' in printed
    onnx.checker.check_model(str(rejected))
    # the numbers of the printed line, and the output's scale they are relative to
    max_abs, relative = re.search(r'max \|Δ\| = (\S+), relative (\S+) ', printed).groups()
    largest = float(max_abs) / float(relative)
    assert re.fullmatch(_refusal(printed, out, rejected, earlier=False), str(stop.value.code))
    stated = float(re.search(r'largest \|output\| (\S+)\)', str(stop.value.code)).group(1))
    assert stated == pytest.approx(largest, rel=0.02)  # each printed to 3 digits


def test_an_export_that_fails_its_check_leaves_the_earlier_file(script, tiny, tmp_path):
    """Checked before it replaces anything: the earlier file stays byte for byte, the
    rejected export lies beside it under a name of its own (exit status 1), and an export
    that passes replaces the earlier file."""
    out = tmp_path / 'tiny.onnx'
    out.write_bytes(b'an earlier export')
    rejected = tmp_path / 'tiny.rejected.onnx'
    result = run_in_process(script, *tiny, '--out', out, '--max-relative-diff', 1e-12)
    assert result.returncode == 1, result.stderr[-3000:]
    assert re.fullmatch(_refusal(result.stdout, out, rejected, earlier=True) + '\n',
                        result.stderr)
    assert out.read_bytes() == b'an earlier export'
    assert sorted(tmp_path.iterdir()) == [out, rejected]
    onnx.checker.check_model(str(rejected))

    result = run_in_process(script, *tiny, '--out', out)
    assert result.returncode == 0, result.stderr[-3000:]
    onnx.checker.check_model(str(out))
    assert out.read_bytes() != b'an earlier export'
    # the rejected file is not this export's: removed, with a line
    assert sorted(tmp_path.iterdir()) == [out]
    assert f'Removed {rejected}, the export an earlier run rejected' in result.stdout


def test_a_checkpoint_url_that_cannot_be_downloaded_stops_in_one_sentence(script, tiny,
                                                                          tmp_path,
                                                                          monkeypatch):
    """No traceback through urllib: exit status 1 and the sentence naming the URL."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = 'http://127.0.0.1:9/x.pth'  # the discard port, where nothing listens here
    out = tmp_path / 'tiny.onnx'
    result = run_in_process(script, tiny[0], url, '--out', out)
    assert (result.returncode, result.stderr) == (
        1, f'could not download checkpoint {url} (Connection refused): download the file where '
           f'it can be reached (a browser, curl) and give its path instead\n')
    assert not out.exists()
