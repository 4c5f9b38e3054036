"""The layout of configs/: every re-ID config composes a model, a dataset, a schedule and a
runtime base in at most 12 lines; no config deletes what it inherits; the re-ID input size
(256×128, paper §4.1.1) is stated once, in configs/_base_/reid_input_size.py, and every
pipeline size and every built attention size follows from it (the documented 384×192 config
included); each folder's README lists
its configs with the numbers of the model index."""
import ast
import re
import shutil
from pathlib import Path

import pytest
from mmengine.config import Config
from modelindex.load_model_index import load

from rga_mm.apis import init_model
from documented_configs import write_documented_config

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / 'configs'
REID_LEAVES = sorted((CONFIGS / 'reid').glob('*.py'))
DEMO = CONFIGS / 'demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
# ResNet with last stride 1 (paper §4.1.1): a stage's map is (H/s, W/s) at an H×W input
STAGE_STRIDES = {'layer1': 4, 'layer2': 8, 'layer3': 16, 'layer4': 16}
# the one statement of the re-ID input size
SIZE_BASE, SIZE_STATEMENT = '_base_/reid_input_size.py', 'input_size = (256, 128)'


def bases(path: Path) -> list:
    """The ``_base_`` list of a config file, as written."""
    tree = ast.parse(path.read_text())
    [value] = [node.value for node in tree.body if isinstance(node, ast.Assign)
               and [t.id for t in node.targets if isinstance(t, ast.Name)] == ['_base_']]
    return ast.literal_eval(value)


def assert_sizes_follow_the_input_size(cfg: Config) -> None:
    """Resize, crop and padding of every pipeline and the built size of every size-aware
    attention are those of ``cfg.input_size`` (the model's)."""
    height, width = cfg.input_size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[loader].dataset.pipeline:
            if step['type'] == 'Resize':
                assert tuple(step['scale']) == (width, height), loader
            for crop in step.get('transforms', []):
                assert tuple(crop['crop_size']) == (height, width)
                assert tuple(crop['padding']) == (width // 16, height // 16)
    for stage, attention in cfg.model.backbone.attentions.items():
        if 'spatial_size' in attention:
            stride = STAGE_STRIDES[stage]
            assert tuple(attention.spatial_size) == (height // stride, width // stride), stage


@pytest.mark.parametrize('path', REID_LEAVES, ids=lambda p: p.stem)
def test_reid_config_is_short_and_composes_the_four_bases(path):
    assert len(path.read_text().splitlines()) <= 12
    model, dataset, schedule, runtime = bases(path)
    assert model.startswith('../_base_/models/reid_r50-ls1')
    assert dataset.startswith('../_base_/datasets/')
    assert schedule == '../_base_/schedules/reid_adam-600e.py'
    assert runtime == '../_base_/default_runtime.py'


@pytest.mark.parametrize('path', sorted(CONFIGS.glob('[!_]*/*.py')),
                         ids=lambda p: f'{p.parent.name}/{p.stem}')
def test_every_config_saves_checkpoints_atomically(path):
    """A kill while a checkpoint is written leaves the last complete one (re-ID, CIFAR and
    the Cityscapes configs, whose runtime is mmseg's: its hook options kept)."""
    if path.parent.name == 'cityscapes':
        pytest.importorskip('mmseg', reason='the Cityscapes configs need the seg extra')
    checkpoint = Config.fromfile(str(path)).default_hooks.checkpoint
    assert checkpoint.type in ('AtomicCheckpointHook', 'rga_mm.AtomicCheckpointHook')
    if path.parent.name == 'cityscapes':
        assert (checkpoint.by_epoch, checkpoint.interval) == (False, 8000)


def test_no_config_deletes_inherited_keys():
    assert [p.relative_to(ROOT).as_posix() for p in CONFIGS.rglob('*.py')
            if '_delete_' in p.read_text()] == []


@pytest.mark.parametrize('path', REID_LEAVES + [DEMO], ids=lambda p: p.stem)
def test_every_size_follows_from_the_input_size(path):
    assert_sizes_follow_the_input_size(Config.fromfile(path))


def test_the_size_is_stated_once(tmp_path):
    """Restating the one statement (in a copy of configs/) moves every size of the re-ID
    configs, model and data alike: no other statement exists."""
    copy = tmp_path / 'configs'
    shutil.copytree(CONFIGS, copy)
    text = (copy / SIZE_BASE).read_text()
    assert text.count(SIZE_STATEMENT) == 1
    (copy / SIZE_BASE).write_text(text.replace(SIZE_STATEMENT, 'input_size = (384, 192)'))
    for algo in ('rga-sc', 'rga-s-novis', 'fc-s', 'fc-s-c', 'nonlocal-rga-s'):
        cfg = Config.fromfile(copy / f'reid/{algo}_r50-ls1_1xb64-600e_market1501-256x128.py')
        assert cfg.input_size == (384, 192)
        assert cfg.model.backbone.attentions.layer1.spatial_size == (96, 48)
        assert cfg.train_pipeline[1]['scale'] == (192, 384)
        assert_sizes_follow_the_input_size(cfg)


def test_the_documented_384x192_config_builds_at_that_size(tmp_path):
    """The config of docs/reid.md, "Another input size", written beside (a copy of)
    configs/ as the page says, moves model and data to 384×192 and builds."""
    path = write_documented_config(
        'reid.md', '### Another input size',
        'my_configs/rga-sc_r50-ls1_1xb64-600e_market1501-384x192.py', tmp_path)
    cfg = Config.fromfile(path)
    assert cfg.input_size == (384, 192)
    assert cfg.model.backbone.attentions.layer1.spatial_size == (96, 48)
    assert_sizes_follow_the_input_size(cfg)
    model = init_model(cfg)
    assert model.backbone.attentions.layer4.spatial_size == (24, 12)


def test_a_config_that_sets_the_input_size_alone_is_refused_when_loaded(tmp_path):
    """Its pipelines and attentions keep the base's 256×128, which the test would use while
    the ONNX export and the FLOP count took 64×32 without a word; the documented config,
    which restates the derived sizes, loads (test above)."""
    from rga_mm.engine.launch import load_config, load_run_config
    base = CONFIGS / 'reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'
    path = tmp_path / 'size_alone.py'
    path.write_text(f"_base_ = ['{base}']\ninput_size = (64, 32)\n")
    message = (f'config {path}: input_size (64, 32) is not the size its test pipeline resizes '
               f'images to, (256, 128); a config that inherits another and sets input_size '
               f'alone changes neither the pipelines nor the attentions\' sizes, which were '
               f'worked out when the base was read: restate them as docs/reid.md, "Another '
               f'input size" shows, or leave input_size at (256, 128)')
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        load_config(path)
    with pytest.raises(SystemExit, match=f'^{re.escape(message)}$'):
        load_run_config(str(path), 'none', {}, str(tmp_path / 'work'))


def test_an_rga_mm_package_base_is_refused_naming_the_path_form(tmp_path):
    """OpenMMLab users write ``mmpretrain::...``; mmengine refuses ``rga_mm::`` with a bare
    assertion through its traceback."""
    from rga_mm.engine.launch import load_config
    path = tmp_path / 'package_base.py'
    path.write_text("_base_ = ['rga_mm::reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py']\n")
    with pytest.raises(ValueError) as error:
        load_config(path)
    assert str(error.value) == (
        f"config {path} inherits an rga_mm config as 'rga_mm::...', a form mmengine resolves "
        f"only for OpenMMLab's own packages (mmseg::, mmpretrain::): inherit it by its path, "
        f"e.g. _base_ = ['{CONFIGS}/reid/<config>.py']")


def test_the_demo_states_its_size_once(tmp_path):
    text = DEMO.read_text()
    assert text.count('input_size = (64, 32)') == 1 and '(16, 8)' not in text
    demo = tmp_path / DEMO.relative_to(ROOT)
    shutil.copytree(CONFIGS, tmp_path / 'configs')
    demo.write_text(text.replace('input_size = (64, 32)', 'input_size = (128, 64)'))
    cfg = Config.fromfile(demo)
    assert cfg.model.backbone.attentions.layer4.spatial_size == (8, 4)
    assert_sizes_follow_the_input_size(cfg)


def _numbers(line: str) -> set:
    return {float(n) for n in re.findall(r'(?<![\w.])\d+\.\d+(?![\w.])', line)}


@pytest.mark.parametrize('folder', ['reid', 'cifar', 'cityscapes', 'demo'])
def test_each_folder_readme_lists_its_configs_with_the_index_numbers(folder):
    """configs/<folder>/README.md links every config of the folder in a table row that
    carries the paper's numbers the model index gives it."""
    readme = (CONFIGS / folder / 'README.md').read_text()
    rows = [line for line in readme.splitlines() if line.startswith('|')]
    models = [m for m in load(str(ROOT / 'model-index.yml')).models
              if m.config.startswith(f'configs/{folder}/')]
    assert {Path(m.config).name for m in models} == {
        p.name for p in (CONFIGS / folder).glob('*.py')}
    for model in models:
        name = Path(model.config).name
        if not model.results:
            assert name in readme
            continue
        [row] = [line for line in rows if f']({name})' in line]
        for value in model.results[0].metrics.values():
            assert float(value) in _numbers(row), (name, value)
