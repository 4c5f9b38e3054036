"""Re-ID end to end through the real tools/train.py and tools/test.py.

A tiny synthetic Market-1501 (the demo's generator) and the demo config shrunk to a few
iterations: single-process training and testing, resuming, and 2-process gloo training. The
first training and the gloo training run as processes of their own; resuming and testing call
the tools' ``main(argv)`` in the test's process (no interpreter start-up each).
"""
import json
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from rga_mm.apis import ReIDInferencer, init_model
from rga_mm.evaluation.functional import pairwise_distance
from rga_mm.testing import plain_rank_metrics
from demo_runs import CONFIG, demo_overrides, tool
from tool_runs import run_checked, run_checked_in_process, run_in_process

pytestmark = pytest.mark.slow


def _scalars(work_dir: Path) -> list[dict]:
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    return [json.loads(line) for line in logs[-1].read_text().splitlines()]


def _num_queries(data_root: Path) -> int:
    return len(list((data_root / 'query').glob('*.jpg')))


MARKET_NAME = re.compile(r'(-1|\d{4})_c(\d)s\d_\d{6}_\d{2}\.jpg')


def _independent_ranking(checkpoint: Path, data_root: Path) -> tuple:
    """The query and gallery of the tiny tree ranked apart from tools/test.py: embeddings by
    ReIDInferencer, identities and cameras read from the file names here, the package's
    float32 cosine distances. Returns (query paths, gallery paths, (Q, G) distances, query
    ids, gallery ids, query cameras, gallery cameras)."""
    inferencer = ReIDInferencer(CONFIG, str(checkpoint), device='cpu', show_progress=False,
                                cfg_options={'model.head.num_classes': 8})

    def split(folder: str) -> tuple:
        paths = sorted((data_root / folder).glob('*.jpg'))
        names = [MARKET_NAME.fullmatch(path.name) for path in paths]
        assert all(names), [path.name for path, name in zip(paths, names) if not name]
        features = inferencer([str(path) for path in paths], batch_size=64)
        return (paths, features, np.array([int(name[1]) for name in names]),
                np.array([int(name[2]) for name in names]))

    query_paths, query, query_ids, query_cams = split('query')
    gallery_paths, gallery, gallery_ids, gallery_cams = split('bounding_box_test')
    distances = pairwise_distance(query, gallery, 'cosine').numpy()
    return (query_paths, gallery_paths, distances, query_ids, gallery_ids, query_cams,
            gallery_cams)


def _independent_metrics(checkpoint: Path, data_root: Path) -> dict:
    """mAP, rank-1 and rank-5 (percent) of ``checkpoint`` on the tiny tree computed apart
    from tools/test.py (:func:`_independent_ranking`) by the plain loop reference of the
    rank metrics (junk -1 and same-identity same-camera gallery images excluded). On
    float32 distances, not float64 ones: two epochs on the tiny tree leave embeddings so
    nearly parallel (all cosine distances within 1e-5..5e-5) that float32 ``1 - cos``
    rounds some of them into ties and the float64 ranking gives another mAP (17.98 against
    17.88)."""
    _, _, distances, *labels = _independent_ranking(checkpoint, data_root)
    scores = plain_rank_metrics(distances, *labels)
    return {'reid/mAP': 100 * scores['mAP'], 'reid/rank1': 100 * scores['cmc'][0],
            'reid/rank5': 100 * scores['cmc'][4],
            'reid/num_query': scores['num_valid_queries']}


def _assert_metrics_match(metrics: dict, checkpoint: Path, data_root: Path) -> None:
    expected = _independent_metrics(checkpoint, data_root)
    assert metrics['reid/num_query'] == expected['reid/num_query']
    for key in ('reid/mAP', 'reid/rank1', 'reid/rank5'):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-4), key


def test_train_test_and_resume(tiny_market, tmp_path):
    work_dir = tmp_path / 'work'
    run_checked(sys.executable, 'tools/train.py', str(CONFIG), '--work-dir', str(work_dir),
                *demo_overrides(tiny_market, max_epochs=1))
    assert (work_dir / 'epoch_1.pth').is_file()
    first = _scalars(work_dir)
    iters_per_epoch = max(entry['step'] for entry in first if 'loss' in entry)
    assert iters_per_epoch == 8 // 2  # 8 identities, 2 per batch of 8 = 2 × 4

    # resume: the schedule continues with the second epoch of the warm-up (mmengine's
    # LinearLR, begin=0, end=3, factor 0.1 → 1 reached at the third epoch)
    run_checked_in_process('tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
                           *demo_overrides(tiny_market, max_epochs=2))
    resumed = [entry for entry in _scalars(work_dir) if 'loss' in entry]
    assert [entry['step'] for entry in resumed] == list(
        range(iters_per_epoch + 1, 2 * iters_per_epoch + 1))
    expected_lr = 8e-4 * (0.1 + 0.9 / 2)
    assert all(entry['lr'] == pytest.approx(expected_lr) for entry in resumed)
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == 2

    out = tmp_path / 'metrics.json'
    run_checked_in_process('tools/test.py', CONFIG, work_dir / 'epoch_2.pth', '--work-dir',
                           tmp_path / 'test', '--out', out,
                           *demo_overrides(tiny_market, max_epochs=2))
    metrics = json.loads(out.read_text())
    assert metrics['reid/num_query'] == _num_queries(tiny_market)
    assert 0 <= metrics['reid/mAP'] <= 100 and 'reid/rank1' in metrics
    _assert_metrics_match(metrics, work_dir / 'epoch_2.pth', tiny_market)

    # a checkpoint that does not fit the config is refused, naming the tensor
    mismatch = run_in_process(
        tool('tools/test.py'), CONFIG, work_dir / 'epoch_2.pth', '--work-dir',
        tmp_path / 'mismatch', *demo_overrides(tiny_market, max_epochs=2),
        'model.head.num_classes=9')
    assert mismatch.returncode != 0
    assert "'head.classifier.weight' has shape (8, 512)" in mismatch.stderr


def test_out_pkl_is_a_pickle_as_mmengine_writes_it(tiny_market, tmp_path):
    model = init_model(CONFIG, cfg_options={'model.head.num_classes': 8})
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = tmp_path / 'results.pkl'
    run_checked_in_process('tools/test.py', CONFIG, checkpoint, '--work-dir', tmp_path / 'test',
                           '--out', out, *demo_overrides(tiny_market, max_epochs=1))
    with open(out, 'rb') as file:
        metrics = pickle.load(file)
    assert metrics['reid/num_query'] == _num_queries(tiny_market)
    counts = ('reid/num_query', 'reid/num_query_skipped', 'reid/num_gallery')
    assert all(type(value) is (int if name in counts else float)  # plain Python numbers
               for name, value in metrics.items()), metrics
    _assert_metrics_match(metrics, checkpoint, tiny_market)


def test_show_dir_draws_the_lists_the_evaluation_ranks(tiny_market, tmp_path):
    """The first 3 queries' ranked lists, first the nearest gallery image that is no junk and
    not the query's identity from its camera, as ranked apart from the tool; the metrics
    are those of a test without --show-dir. The test runs on the config a training run saved
    in its work dir, as the own-data flow does, and leaves that file as it was."""
    model = init_model(CONFIG, cfg_options={'model.head.num_classes': 8})
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out, show_dir, work_dir = tmp_path / 'metrics.json', tmp_path / 'show', tmp_path / 'run'
    run_config = work_dir / CONFIG.name
    work_dir.mkdir()
    Config.fromfile(str(CONFIG)).dump(str(run_config))
    saved = run_config.read_bytes()
    test = run_checked_in_process('tools/test.py', run_config, checkpoint, '--work-dir',
                                  work_dir, '--out', out, '--show-dir', show_dir, '--show-num',
                                  3, *demo_overrides(tiny_market, max_epochs=1))
    assert run_config.read_bytes() == saved
    _assert_metrics_match(json.loads(out.read_text()), checkpoint, tiny_market)
    assert (f'--show-dir draws the ranked lists of the first 3 queries (at most), in '
            f'{show_dir}') in test.stdout
    query_paths, gallery_paths, distances, query_ids, gallery_ids, query_cams, gallery_cams = (
        _independent_ranking(checkpoint, tiny_market))
    lists = json.loads((show_dir / 'ranked_lists.json').read_text())
    assert [entry['query'] for entry in lists] == [str(path) for path in query_paths[:3]]
    assert sorted(path.name for path in show_dir.glob('*.png')) == [
        f'{path.stem}.png' for path in query_paths[:3]]
    for row, entry in enumerate(lists):
        allowed = (gallery_ids != -1) & ~((gallery_ids == query_ids[row])
                                          & (gallery_cams == query_cams[row]))
        nearest = np.flatnonzero(allowed)[np.argmin(distances[row][allowed])]
        assert entry['results'][0]['path'] == str(gallery_paths[nearest])
        assert len(entry['results']) == 10


def test_two_process_gloo_training(tiny_market, tmp_path):
    work_dir = tmp_path / 'dist'
    config = tmp_path / 'dist_config.py'
    config.write_text(f"_base_ = ['{CONFIG}']\n"
                      "custom_imports = dict(imports=['rank_weights_hook'])\n"
                      "custom_hooks = [dict(type='SaveRankWeightsHook')]\n")
    run_checked('bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work_dir),
                *demo_overrides(tiny_market, max_epochs=1),
                env=dict(PYTHON=sys.executable, PORT='29731', OMP_NUM_THREADS='1',
                         PYTHONPATH=str(Path(__file__).parent)))
    rank0 = torch.load(work_dir / 'rank0_weights.pth', weights_only=True)
    rank1 = torch.load(work_dir / 'rank1_weights.pth', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # each rank saw its own half of every P×K batch: 8 ids / (2 ranks × 2 ids) = 2 iterations
    steps = [entry['step'] for entry in _scalars(work_dir) if 'loss' in entry]
    assert steps == [1, 2]
    evaluation = [entry for entry in _scalars(work_dir) if 'reid/num_query' in entry]
    assert evaluation[-1]['reid/num_query'] == _num_queries(tiny_market)
