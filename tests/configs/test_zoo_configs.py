"""The attention-zoo configs: one per row of paper Tables 2 and 3 and dataset, each building
the named attentions at the places of RGA (non-local where Wang et al. put them), each in the
row of configs/reid/README.md that names it with the paper's numbers.

Every network runs one training iteration of the real model (256×128, 2 identities × 2
images): the Market-1501 configs' networks, which their CUHK03 twins equal but for the
classifier's size (asserted by the build test).
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from rga_mm.apis import init_model
from rga_mm.testing import fake_reid_batch

CONFIG_DIR = Path(__file__).parents[2] / 'configs/reid'
README = (CONFIG_DIR / 'README.md').read_text()
DATASETS = {'market1501': 751, 'cuhk03-labeled': 767}
STAGES = {'layer1': (256, (64, 32)), 'layer2': (512, (32, 16)), 'layer3': (1024, (16, 8)),
          'layer4': (2048, (16, 8))}
NON_LOCAL_PLACES = {'layer2.1': 512, 'layer2.3': 512, 'layer3.1': 1024, 'layer3.3': 1024,
                    'layer3.5': 1024}

# algo → (paper row, attention type after the four stages or None, its extra arguments,
#          non-local blocks?, {dataset: (Rank-1, mAP)}): Tables 2 and 3, CUHK03(L), Market1501
ROWS = {
    'cbam-s': ('CBAM-S', 'CBAMSpatial', {}, False,
               {'cuhk03-labeled': (77.3, 72.8), 'market1501': (94.8, 85.6)}),
    'fc-s': ('FC-S', 'FCSpatial', {'spatial_size'}, False,
             {'cuhk03-labeled': (77.0, 73.0), 'market1501': (95.2, 86.2)}),
    'se': ('SE', 'SE', {}, False,
           {'cuhk03-labeled': (76.3, 71.9), 'market1501': (95.2, 86.0)}),
    'cbam-c': ('CBAM-C', 'CBAMChannel', {}, False,
               {'cuhk03-labeled': (76.9, 72.7), 'market1501': (95.3, 86.3)}),
    'fc-c': ('FC-C', 'FCChannel', {}, False,
             {'cuhk03-labeled': (77.4, 72.9), 'market1501': (95.3, 86.7)}),
    'cbam-cs': ('CBAM-CS', 'CBAM', {}, False,
                {'cuhk03-labeled': (78.0, 73.0), 'market1501': (95.0, 85.6)}),
    'fc-s-c': ('FC-S/C', 'FCSpatialChannel', {'spatial_size'}, False,
               {'cuhk03-labeled': (78.4, 73.2), 'market1501': (94.8, 85.0)}),
    'nonlocal': ('Non-local', None, {}, True,
                 {'cuhk03-labeled': (76.6, 72.6), 'market1501': (95.6, 87.4)}),
    'nonlocal-rga-s': ('Non-local + RGA-S', 'RGA', {'spatial_size', 'mode'}, True,
                       {'cuhk03-labeled': (80.6, 76.8), 'market1501': (95.6, 88.0)}),
}
CONFIGS = [(algo, dataset, CONFIG_DIR / f'{algo}_r50-ls1_1xb64-600e_{dataset}-256x128.py')
           for dataset in DATASETS for algo in ROWS]


def expected_attentions(algo: str) -> dict:
    """Stage name → (type, in_channels, spatial_size or None, mode or None)."""
    _, stage_type, extra, non_local, _ = ROWS[algo]
    expected = {}
    if non_local:
        expected.update({stage: ('NonLocal', channels, None, None)
                         for stage, channels in NON_LOCAL_PLACES.items()})
    if stage_type is not None:
        for stage, (channels, size) in STAGES.items():
            expected[stage] = (stage_type, channels, size if 'spatial_size' in extra else None,
                               'S' if 'mode' in extra else None)
    return expected


def test_every_row_of_tables_2_and_3_has_a_config_per_dataset():
    assert all(path.is_file() for _, _, path in CONFIGS)
    assert len(CONFIGS) == 18


@pytest.mark.parametrize('algo,dataset,path', CONFIGS, ids=[p.stem for *_, p in CONFIGS])
def test_config_builds_the_rows_attentions_at_the_places_of_rga(algo, dataset, path):
    row, _, _, _, numbers = ROWS[algo]
    readme_row = next(line for line in README.splitlines() if f']({path.name})' in line)
    assert readme_row.startswith(f'| {row} |')
    assert {f'| {number} |' for number in numbers[dataset]} <= {
        f'| {cell.strip()} |' for cell in readme_row.split('|')}

    cfg = Config.fromfile(path)
    built = {stage: (entry['type'], entry['in_channels'], entry.get('spatial_size'),
                     entry.get('mode'))
             for stage, entry in cfg.model.backbone.attentions.items()}
    assert built == expected_attentions(algo)
    assert cfg.optim_wrapper.optimizer.lr == 8e-4 and cfg.train_cfg.max_epochs == 600

    model = init_model(cfg)
    assert model.head.classifier.out_features == DATASETS[dataset]
    modules = model.backbone.attentions
    assert {name: type(module).__name__ for name, module in modules.items()} == {
        stage.replace('.', '_'): spec[0] for stage, spec in expected_attentions(algo).items()}
    for stage, (_, channels, _, _) in expected_attentions(algo).items():
        assert modules[stage.replace('.', '_')].in_channels == channels
    if dataset != 'market1501':  # its Market-1501 twin's model but for the classifier's size
        market = Config.fromfile(str(path).replace(dataset, 'market1501')).model
        market.head.num_classes = DATASETS[dataset]
        assert cfg.model == market


@pytest.mark.slow
@pytest.mark.parametrize('path', [path for _, dataset, path in CONFIGS if dataset == 'market1501'],
                         ids=lambda p: p.stem)
def test_one_training_iteration(path):
    model = init_model(path).train()
    optim_wrapper = build_optim_wrapper(model, model.cfg.optim_wrapper)
    before = {name: p.detach().clone()
              for name, p in model.backbone.attentions.named_parameters()}
    log = model.train_step(fake_reid_batch(2, 2, 256, 128), optim_wrapper)
    assert {'loss_cls', 'loss_triplet'} <= set(log)
    assert all(torch.isfinite(value).all() for value in log.values())
    after = dict(model.backbone.attentions.named_parameters())
    updated = {name.split('.')[0] for name, value in before.items()
               if not torch.equal(value, after[name])}
    assert updated == set(model.backbone.attentions)  # every attention module learns
