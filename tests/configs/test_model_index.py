"""The model index (``model-index.yml`` and ``configs/*/metafile.yml``) that ``mim search rga_mm``
reads: every config once, under its file name, with the paper table and row it reproduces and
the paper's numbers for that row (Tables 1-5: Rank-1 / mAP, Table 6: mIoU, Table 7: error)."""
from collections import Counter
from pathlib import Path

import pytest
from modelindex.load_model_index import load

ROOT = Path(__file__).parents[2]
FOLDERS = ('reid', 'cifar', 'cityscapes', 'demo')

# Tables 1-3 (CUHK03 labeled and Market-1501): row -> (CUHK03(L) R1, mAP, Market1501 R1, mAP).
TABLES_1_TO_3 = {
    ('Table 1', 'Baseline'): (73.8, 69.0, 94.2, 83.7),
    ('Table 1', 'RGA-S w/o Rel.'): (76.8, 72.3, 94.3, 83.8),
    ('Table 1', 'RGA-S w/o Vis.'): (78.2, 74.0, 95.4, 86.7),
    ('Table 1', 'RGA-S'): (79.3, 74.7, 95.4, 86.8),
    ('Table 1', 'RGA-C w/o Rel.'): (77.8, 73.7, 94.7, 84.8),
    ('Table 1', 'RGA-C w/o Vis.'): (78.1, 74.9, 95.4, 87.1),
    ('Table 1', 'RGA-C'): (79.0, 74.9, 95.4, 87.2),
    ('Table 1', 'RGA-S//C'): (77.3, 73.4, 95.3, 86.6),
    ('Table 1', 'RGA-CS'): (78.6, 75.5, 95.3, 87.8),
    ('Table 1', 'RGA-SC'): (80.4, 76.5, 95.8, 88.1),
    ('Table 2', 'CBAM-S'): (77.3, 72.8, 94.8, 85.6),
    ('Table 2', 'FC-S'): (77.0, 73.0, 95.2, 86.2),
    ('Table 2', 'SE'): (76.3, 71.9, 95.2, 86.0),
    ('Table 2', 'CBAM-C'): (76.9, 72.7, 95.3, 86.3),
    ('Table 2', 'FC-C'): (77.4, 72.9, 95.3, 86.7),
    ('Table 2', 'CBAM-CS'): (78.0, 73.0, 95.0, 85.6),
    ('Table 2', 'FC-S/C'): (78.4, 73.2, 94.8, 85.0),
    ('Table 3', 'Non-local'): (76.6, 72.6, 95.6, 87.4),
    ('Table 3', 'Non-local + RGA-S'): (80.6, 76.8, 95.6, 88.0),
}
# Table 4 (CUHK03 detected, DukeMTMC-reID) and Table 5 (MSMT17): row -> (R1, mAP) per dataset.
# Table 4 gives the baseline no DukeMTMC-reID mAP.
TABLES_4_AND_5 = {
    ('Table 4', 'Baseline', 'CUHK03-detected'): (70.5, 65.5),
    ('Table 4', 'Baseline', 'DukeMTMC-reID'): (83.4, None),
    ('Table 4', 'RGA-SC', 'CUHK03-detected'): (77.4, 73.3),
    ('Table 4', 'RGA-SC', 'DukeMTMC-reID'): (86.1, 74.9),
    ('Table 5', 'Baseline', 'MSMT17'): (75.7, 51.5),
    ('Table 5', 'RGA-SC', 'MSMT17'): (81.3, 56.3),
}
# config name prefix -> (table, row) for CUHK03 labeled and Market-1501
REID_ROWS = {
    'baseline': ('Table 1', 'Baseline'), 'rga-s-norel': ('Table 1', 'RGA-S w/o Rel.'),
    'rga-s-novis': ('Table 1', 'RGA-S w/o Vis.'), 'rga-s': ('Table 1', 'RGA-S'),
    'rga-c-norel': ('Table 1', 'RGA-C w/o Rel.'), 'rga-c-novis': ('Table 1', 'RGA-C w/o Vis.'),
    'rga-c': ('Table 1', 'RGA-C'), 'rga-s-par-c': ('Table 1', 'RGA-S//C'),
    'rga-cs': ('Table 1', 'RGA-CS'), 'rga-sc': ('Table 1', 'RGA-SC'),
    'cbam-s': ('Table 2', 'CBAM-S'), 'fc-s': ('Table 2', 'FC-S'), 'se': ('Table 2', 'SE'),
    'cbam-c': ('Table 2', 'CBAM-C'), 'fc-c': ('Table 2', 'FC-C'),
    'cbam-cs': ('Table 2', 'CBAM-CS'), 'fc-s-c': ('Table 2', 'FC-S/C'),
    'nonlocal': ('Table 3', 'Non-local'), 'nonlocal-rga-s': ('Table 3', 'Non-local + RGA-S'),
}
REID_DATASETS = {'market1501': 'Market-1501', 'cuhk03-labeled': 'CUHK03-labeled',
                 'cuhk03-detected': 'CUHK03-detected', 'dukemtmc': 'DukeMTMC-reID',
                 'msmt17': 'MSMT17'}
OTHER_TABLES = {'CUHK03-detected': 'Table 4', 'DukeMTMC-reID': 'Table 4', 'MSMT17': 'Table 5'}

# Table 6, "Mean IoU (Val.)" (%)
TABLE_6 = {'fcn': ('ResNet-101 + RGA-SC', 78.5),
           'pspnet': ('ResNet-101 + PPM + RGA-SC', 78.9),
           'deeplabv3': ('ResNet-101 + ASPP + RGA-SC', 79.6)}

# Table 7, classification error (%): row, depth -> (C-10, C-100)
TABLE_7 = {
    'resnet110': ('ResNet (Baseline), depth 110', 6.40, 27.62),
    'resnet218': ('ResNet, depth 218', 6.26, 25.71),
    'resnet110_rga-sc': ('ResNet + RGA-SC, depth 110+4', 5.91, 25.36),
    'densenet-k12-l100': ('DenseNet (k=12, Baseline), depth 100', 4.08, 20.97),
    'densenet-k12-l115': ('DenseNet (k=12), depth 115', 3.93, 20.5),
    'densenet-k12-l100_rga-sc': ('DenseNet (k=12) + RGA-SC, depth 100+4', 4.06, 20.15),
    'densenet-bc-k12-l100': ('DenseNet-BC (k=12, Baseline), depth 100', 4.47, 22.78),
    'densenet-bc-k12-l115': ('DenseNet-BC (k=12), depth 115', 4.41, 22.13),
    'densenet-bc-k12-l100_rga-sc': ('DenseNet-BC (k=12) + RGA-SC, depth 100+4', 4.32, 21.18),
}

DEMO = 'rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32'
# configs/reid's configs for your own data: no paper row, no number
CUSTOM_DATA = ('rga-sc_r50-ls1_1xb64-600e_custom-annotations-256x128',
               'rga-sc_r50-ls1_1xb64-600e_custom-folders-256x128')
PAPER = {'URL': 'https://openaccess.thecvf.com/content_CVPR_2020/html/Zhang_Relation-Aware_'
                'Global_Attention_for_Person_Re-Identification_CVPR_2020_paper.html',
         'Title': 'Relation-Aware Global Attention for Person Re-identification'}


@pytest.fixture(scope='module')
def index():
    return load(str(ROOT / 'model-index.yml'))


@pytest.fixture(scope='module')
def models(index):
    return {model.name: model for model in index.models}


def metadata(model, index):
    """The model's metadata over its collection's, as ``mim search`` shows them."""
    collection = next(c for c in index.collections if c.name == model.in_collection)
    return {**collection.metadata.data, **model.metadata.data}


def test_every_config_is_listed_once_under_its_file_name(index):
    """Each config of configs/{reid,cifar,cityscapes,demo} is one model named after its file."""
    on_disk = sorted(p.relative_to(ROOT).as_posix() for folder in FOLDERS
                     for p in (ROOT / 'configs' / folder).glob('*.py'))
    listed = [model.config for model in index.models]
    assert [c for c, n in Counter(listed).items() if n > 1] == []
    assert sorted(listed) == on_disk
    names = [model.name for model in index.models]
    assert len(set(names)) == len(names)
    assert all(model.name == Path(model.config).stem for model in index.models)


def test_each_folder_has_one_metafile_and_one_collection(index):
    """A model sits in the metafile and collection of its config's folder."""
    assert len(index.collections) == len(FOLDERS)
    for model in index.models:
        folder = Path(model.config).parent
        assert Path(model.filepath).resolve() == (ROOT / folder / 'metafile.yml').resolve()
        collection = next(c for c in index.collections if c.name == model.in_collection)
        assert Path(collection.filepath).resolve() == Path(model.filepath).resolve()


def test_the_index_is_valid_and_points_at_the_paper(index):
    """modelindex finds no error but the README paths, which follow OpenMMLab (repository
    root) where modelindex resolves them against the metafile's folder."""
    errors = [e for e in index.check(silent=True) if 'Path to README file' not in e]
    assert errors == []
    for collection in index.collections:
        assert collection.paper == PAPER
        assert (ROOT / collection.readme).is_file()
    assert all(model.weights is None for model in index.models)  # no checkpoints shipped


@pytest.mark.parametrize('folder', ['reid', 'cifar', 'cityscapes'])
def test_every_paper_config_names_its_table_and_row(index, folder):
    """Every re-ID, CIFAR and Cityscapes config reproduces one row of Tables 1-7."""
    for model in index.models:
        if model.config.startswith(f'configs/{folder}/') and model.name not in CUSTOM_DATA:
            assert model.metadata.data['Paper Table'] in {f'Table {i}' for i in range(1, 8)}
            assert model.metadata.data['Paper Row']
            assert len(model.results) == 1


def test_reid_numbers_are_the_papers_tables_1_to_5(index):
    """Rank-1 and mAP of every re-ID config equal its row of Tables 1-5."""
    reid = [m for m in index.models
            if m.config.startswith('configs/reid/') and m.name not in CUSTOM_DATA]
    assert len(reid) == 2 * len(REID_ROWS) + 6
    for model in reid:
        prefix, _, _, rest = model.name.split('_')
        dataset = REID_DATASETS[rest.removesuffix('-256x128')]
        if dataset in OTHER_TABLES:
            table, row = OTHER_TABLES[dataset], REID_ROWS[prefix][1]
            rank1, mAP = TABLES_4_AND_5[table, row, dataset]
        else:
            table, row = REID_ROWS[prefix]
            numbers = TABLES_1_TO_3[table, row]
            rank1, mAP = numbers[:2] if dataset == 'CUHK03-labeled' else numbers[2:]
        meta = metadata(model, index)
        assert (meta['Paper Table'], meta['Paper Row']) == (table, row), model.name
        assert meta['Training Data'] == dataset
        (result, ) = model.results
        assert (result.task, result.dataset) == ('Person Re-Identification', dataset)
        expected = {'Rank-1': rank1} if mAP is None else {'Rank-1': rank1, 'mAP': mAP}
        assert result.metrics == expected, model.name


def test_the_index_agrees_with_the_gains_quoted_in_the_text(models):
    """The differences the paper's text quotes (§4.1.2, §4.1.3, §4.2), recomputed from the
    index: a check of the index against the paper independent of the tables above."""
    def reid(prefix, dataset='cuhk03-labeled'):
        (result, ) = models[f'{prefix}_r50-ls1_1xb64-600e_{dataset}-256x128'].results
        return result.metrics['Rank-1'], result.metrics['mAP']

    def gain(better, worse):
        return tuple(round(a - b, 1) for a, b in zip(better, worse))

    baseline = reid('baseline')
    # §4.1.2 1): RGA-S, RGA-C, RGA-SC over the baseline on CUHK03 (Rank-1, mAP)
    assert [gain(reid(p), baseline) for p in ('rga-s', 'rga-c', 'rga-sc')] == [
        (5.5, 5.7), (5.2, 5.9), (6.6, 7.5)]
    # ... and mAP on Market-1501: baseline 83.7, RGA-S +3.1, RGA-C +3.5
    market = [reid(p, 'market1501')[1] for p in ('baseline', 'rga-s', 'rga-c')]
    assert [market[0], round(market[1] - market[0], 1), round(market[2] - market[0], 1)] == [
        83.7, 3.1, 3.5]
    # 2) w/o Vis. over the baseline, 3) RGA-S / RGA-C over w/o Rel., Rank-1 on CUHK03
    assert [gain(reid(p), baseline)[0] for p in ('rga-s-novis', 'rga-c-novis')] == [4.4, 4.3]
    assert [gain(reid('rga-s'), reid('rga-s-norel'))[0],
            gain(reid('rga-c'), reid('rga-c-norel'))[0]] == [2.5, 1.2]
    # Table 2 text: RGA-C over SE (Rank-1, mAP) and over FC-C (Rank-1) on CUHK03
    assert gain(reid('rga-c'), reid('se')) == (2.7, 3.0)
    assert gain(reid('rga-c'), reid('fc-c'))[0] == 1.6
    # Table 3 text: Non-local + RGA-S over Non-local on CUHK03
    assert gain(reid('nonlocal-rga-s'), reid('nonlocal')) == (4.0, 4.2)
    # §4.1.3: RGA-SC over the baseline on MSMT17
    assert gain(reid('rga-sc', 'msmt17'), reid('baseline', 'msmt17')) == (5.6, 4.8)
    # §4.2: RGA-SC over the three Table 6 baselines (74.8, 77.0, 78.5 mIoU, not in the index)
    miou = [models[f'{head}_r101-d8_rga-sc_4xb2-80k_cityscapes-769x769'].results[0]
            .metrics['mIoU'] for head in ('fcn', 'pspnet', 'deeplabv3')]
    assert [round(m - b, 1) for m, b in zip(miou, (74.8, 77.0, 78.5))] == [3.7, 1.9, 1.1]


def test_cityscapes_numbers_are_table_6(index):
    city = [m for m in index.models if m.config.startswith('configs/cityscapes/')]
    assert {m.name.split('_')[0] for m in city} == set(TABLE_6)
    for model in city:
        row, miou = TABLE_6[model.name.split('_')[0]]
        assert (model.metadata.data['Paper Table'], model.metadata.data['Paper Row']) == (
            'Table 6', row)
        (result, ) = model.results
        assert (result.task, result.dataset, result.metrics) == (
            'Semantic Segmentation', 'Cityscapes', {'mIoU': miou})


def test_cifar_numbers_are_table_7_errors(index):
    """Top 1 Error is Table 7's error as printed, for CIFAR-10 and CIFAR-100."""
    cifar = [m for m in index.models if m.config.startswith('configs/cifar/')]
    assert len(cifar) == 2 * len(TABLE_7)
    for model in cifar:
        key, _, dataset = model.name.rsplit('_', 2)
        row, c10, c100 = TABLE_7[key]
        name, error = {'cifar10': ('CIFAR-10', c10), 'cifar100': ('CIFAR-100', c100)}[dataset]
        assert (model.metadata.data['Paper Table'], model.metadata.data['Paper Row']) == (
            'Table 7', row)
        assert model.metadata.data['Training Data'] == name
        (result, ) = model.results
        assert (result.task, result.dataset, result.metrics) == (
            'Image Classification', name, {'Top 1 Error': error})


def test_the_demo_has_no_paper_row_and_no_number(models):
    demo = models[DEMO]
    assert 'Paper Table' not in demo.metadata.data and 'Paper Row' not in demo.metadata.data
    assert len(demo.results) == 0  # an empty list: mim search iterates over it


@pytest.mark.parametrize('name', CUSTOM_DATA)
def test_the_custom_data_configs_have_no_paper_row_and_no_number(models, index, name):
    model = models[name]
    assert 'Paper Table' not in model.metadata.data and 'Paper Row' not in model.metadata.data
    assert len(model.results) == 0
    assert metadata(model, index)['Training Data'].startswith('Custom')


def test_schedule_metadata_follows_the_config_names(index):
    """``{gpus}xb{batch}-{n}e`` / ``-{n}k`` in a name gives Batch Size and Epochs / Iterations."""
    for model in index.models:
        schedule = next(part for part in model.name.split('_') if 'xb' in part)
        gpus, rest = schedule.split('xb')
        batch, length = rest.split('-')
        meta = metadata(model, index)
        assert meta['Batch Size'] == int(gpus) * int(batch), model.name
        if length.endswith('e'):
            assert meta['Epochs'] == int(length[:-1]) and 'Iterations' not in meta, model.name
        else:
            assert meta['Iterations'] == 1000 * int(length[:-1]) and 'Epochs' not in meta
