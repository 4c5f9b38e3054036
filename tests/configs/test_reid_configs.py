"""Every re-ID config builds the model its name promises (paper Tables 1, 4, 5)."""
import shutil
from pathlib import Path

import pytest
from mmengine.config import Config

from rga_mm.apis import init_model
from rga_mm.models.attention import RGA

EXPECTED_MODES = {'baseline': None, 'rga-s': ('S', True, True), 'rga-c': ('C', True, True),
                  'rga-sc': ('SC', True, True), 'rga-cs': ('CS', True, True),
                  'rga-s-par-c': ('S//C', True, True), 'rga-s-norel': ('S', False, True),
                  'rga-s-novis': ('S', True, False), 'rga-c-norel': ('C', False, True),
                  'rga-c-novis': ('C', True, False)}
CONFIGS = sorted(path for path in (Path(__file__).parents[2] / 'configs/reid').glob('*.py')
                 if path.name.split('_')[0] in EXPECTED_MODES)
NUM_CLASSES = {'market1501': 751, 'cuhk03-labeled': 767, 'cuhk03-detected': 767,
               'dukemtmc': 702, 'msmt17': 1041,
               # the configs for your own data state a placeholder (their comment says why)
               'custom-annotations': 100, 'custom-folders': 100}


def test_every_table_row_has_a_config():
    names = {p.name for p in CONFIGS}
    for dataset in ('market1501', 'cuhk03-labeled'):
        for algo in EXPECTED_MODES:
            assert f'{algo}_r50-ls1_1xb64-600e_{dataset}-256x128.py' in names
    for dataset in ('cuhk03-detected', 'dukemtmc', 'msmt17'):
        for algo in ('baseline', 'rga-sc'):
            assert f'{algo}_r50-ls1_1xb64-600e_{dataset}-256x128.py' in names
    assert len(CONFIGS) == 26 + 2  # Tables 1, 4 and 5, and the two for your own data


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_the_named_model(path):
    algo, _, _, rest = path.stem.split('_')
    dataset = rest.removesuffix('-256x128')
    cfg = Config.fromfile(path)
    assert cfg.train_cfg.max_epochs == 600 and cfg.optim_wrapper.optimizer.lr == 8e-4
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_dataloader.batch_sampler.num_instances == 4
    model = init_model(cfg)
    assert model.head.classifier.out_features == NUM_CLASSES[dataset]
    modules = [m for m in model.modules() if isinstance(m, RGA)]
    expected = EXPECTED_MODES[algo]
    if expected is None:
        assert modules == []
        return
    assert len(modules) == 4
    for module in modules:
        gate = getattr(module, 'spatial_gate', None) or module.channel_gate
        assert (module.mode, gate.use_relation, gate.use_appearance) == expected


def test_the_importable_pipelines_are_the_config_bases(tmp_path, monkeypatch):
    """rga_mm.datasets.TRAIN_PIPELINE / TEST_PIPELINE are read from the one statement of the
    re-ID pipelines, configs/_base_/datasets/reid_256x128.py: they equal what a config trains
    and tests with, and an edit of that base or of the input size it reads is what they
    give."""
    from rga_mm import datasets
    from rga_mm.datasets import pipelines

    cfg = Config.fromfile(CONFIGS[0])
    assert datasets.TRAIN_PIPELINE == cfg.train_dataloader.dataset.pipeline
    assert datasets.TEST_PIPELINE == cfg.test_dataloader.dataset.pipeline
    assert datasets.REID_META_KEYS == cfg.test_pipeline[-1]['meta_keys']

    shutil.copytree(pipelines.pipelines_config_path().parents[1], tmp_path / '_base_')
    size_base = tmp_path / '_base_/reid_input_size.py'
    size_base.write_text(size_base.read_text().replace('(256, 128)', '(384, 192)'))
    monkeypatch.setattr(pipelines, 'CONFIG_DIRS', (tmp_path, ))
    assert [step.get('scale') for step in datasets.TEST_PIPELINE] == [None, (192, 384), None]
