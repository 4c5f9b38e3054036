"""The use layer on CUDA: ``ReIDInferencer``, ``tools/search.py`` and ``tools/test.py`` with
the model on a GPU give what they give with the model on the CPU.

The demo model (RGA-SC on ResNet-18, 64×32) with BN statistics of the tiny training set, in
strict fp32 (TF32 off). CPU and CUDA then differ by the rounding of their kernels only. fp32
alone moves this network's embeddings by 1.2e-4 of their scale (the CPU's fp32 forward
against a float64 one, measured) and its cosine distances by 2.2e-5, so two fp32 runs differ
by about twice that (1.24e-4 measured on an H100); a real difference (a weight, a BN
statistic or a gate left on the CPU, an input not normalised) changes them by 1e-2 or more.
Embeddings are compared to 1e-3 of their scale and distances to 1e-4. Rankings are compared
where that rounding cannot reorder them: the whole gallery listed (so that both lists hold
the same items), and metrics only on data where no match is within 2e-4 of a non-match in a
query's distances (checked on the CPU first), a gap that two distances each off by at most
1e-4 cannot close.

Run with ``pytest -m cuda tests/cuda``; without a CUDA device these tests are skipped.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rga_mm.apis import ReIDInferencer, init_model
from rga_mm.datasets.folder_listing import image_files
from rga_mm.evaluation.functional import pairwise_distance
from rga_mm.registry import METRICS
from rga_mm.testing import load_script
from cuda_only import CUDA_ONLY, relative_error, strict_fp32
from demo_model import calibrated_demo_checkpoint, samples_of_test_split
from tool_runs import run_in_process

pytestmark = CUDA_ONLY

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
EMBEDDING_TOLERANCE = 1e-3
DISTANCE_TOLERANCE = 1e-4
# two distances each off by at most DISTANCE_TOLERANCE keep their order
MIN_GAP = 2 * DISTANCE_TOLERANCE


@pytest.fixture(scope='module')
def checkpoint(tiny_market, tmp_path_factory) -> Path:
    """The demo model, initial weights and BN statistics of the tiny training set."""
    return calibrated_demo_checkpoint(tiny_market,
                                      tmp_path_factory.mktemp('checkpoint') / 'demo.pth')


@pytest.mark.parametrize('flip', [False, True], ids=['plain', 'flip'])
def test_inferencer_embeds_on_cuda_as_on_the_cpu(tiny_market, checkpoint, flip):
    paths = image_files(str(tiny_market / 'bounding_box_test'))
    with strict_fp32():
        embeddings = {device: ReIDInferencer(CONFIG, str(checkpoint), device,
                                             show_progress=False)(paths, batch_size=16,
                                                                  flip=flip)
                      for device in ('cpu', 'cuda')}
    assert embeddings['cuda'].device.type == 'cpu'  # returned on the CPU, as documented
    assert embeddings['cuda'].shape == embeddings['cpu'].shape == (len(paths), 512)
    error = relative_error(embeddings['cuda'], embeddings['cpu'])
    assert error <= EMBEDDING_TOLERANCE, f'CUDA embeddings differ from the CPU ones by {error:.2e}'


def test_search_on_cuda_ranks_the_gallery_as_on_the_cpu(tiny_market, checkpoint, tmp_path):
    """Every gallery image listed for every query, so that both lists hold the same items:
    each has the same distance on both devices, and the CUDA list is in distance order."""
    search = load_script(ROOT / 'tools/search.py', 'search_tool').main
    gallery = tiny_market / 'bounding_box_test'
    size = len(image_files(str(gallery)))
    reports = {}
    for device in ('cpu', 'cuda'):
        out = tmp_path / device
        with strict_fp32():
            search([str(CONFIG), str(checkpoint), '--gallery', str(gallery), '--query',
                    str(tiny_market / 'query'), '--topk', str(size), '--out', str(out),
                    '--device', device, '--cache', str(tmp_path / f'{device}.cache')])
        reports[device] = json.loads((out / 'results.json').read_text())['queries']
    assert [q['query'] for q in reports['cuda']] == [q['query'] for q in reports['cpu']]
    for on_cpu, on_cuda in zip(reports['cpu'], reports['cuda']):
        distance_on_cpu = dict(zip(on_cpu['gallery'], on_cpu['distances']))
        assert sorted(on_cuda['gallery']) == sorted(distance_on_cpu)
        np.testing.assert_allclose(on_cuda['distances'],
                                   [distance_on_cpu[path] for path in on_cuda['gallery']],
                                   atol=DISTANCE_TOLERANCE, err_msg=on_cuda['query'])
        assert on_cuda['distances'] == sorted(on_cuda['distances'])


def smallest_deciding_gap(distances: np.ndarray, query_labels: tuple,
                          gallery_labels: tuple) -> float:
    """The smallest distance between a match and a non-match in any query's ranking.

    The protocol scores a ranking by its sequence of matches and non-matches, once the
    gallery items of the query's identity and camera are removed: reordering items of the
    same kind changes no metric, so only the gaps between a match and a non-match count.
    ``distances`` is (Q, G); the labels are (identity ids, camera ids) arrays.
    """
    (query_ids, query_cams), (gallery_ids, gallery_cams) = query_labels, gallery_labels
    smallest = np.inf
    for row, query_id, query_cam in zip(distances, query_ids, query_cams):
        kept = ~((gallery_ids == query_id) & (gallery_cams == query_cam))
        order = np.argsort(row[kept])
        matches = (gallery_ids[kept] == query_id)[order]
        gaps = np.diff(row[kept][order])[matches[1:] != matches[:-1]]
        smallest = min(smallest, gaps.min(initial=np.inf))
    return smallest


def cpu_metrics(data_root: Path, checkpoint: Path) -> dict:
    """The test split scored as tools/test.py scores it (its dataset, test pipeline,
    ``test_step`` and evaluator), with the model on the CPU; checks first that no match is
    closer than :data:`MIN_GAP` to a non-match in a query's distances, so that CUDA's
    rounding cannot change a metric."""
    model = init_model(CONFIG, str(checkpoint))
    samples = samples_of_test_split(model, data_root)

    def features_and_labels(items: list) -> tuple:
        return (torch.stack([s.pred_feature for s in items]),
                (np.array([int(s.gt_label) for s in items]),
                 np.array([s.camera_id for s in items])))

    query, query_labels = features_and_labels([s for s in samples if s.is_query])
    gallery, gallery_labels = features_and_labels([s for s in samples if not s.is_query])
    gap = smallest_deciding_gap(pairwise_distance(query, gallery,
                                                  model.cfg.test_evaluator.distance).numpy(),
                                query_labels, gallery_labels)
    assert gap >= MIN_GAP, f'a match and a non-match are {gap:.1e} apart'
    metric = METRICS.build(model.cfg.test_evaluator)
    metric.process(None, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def test_test_tool_on_cuda_scores_as_on_the_cpu(tiny_market, checkpoint, tmp_path):
    """tools/test.py puts the model on CUDA (mmengine's Runner does where CUDA is
    available); its metrics must be those of the CPU run, and the model's weights must have
    been on the GPU while it scored."""
    expected = cpu_metrics(tiny_market, checkpoint)
    weight_bytes = sum(p.numel() * p.element_size()
                       for p in init_model(CONFIG, str(checkpoint)).parameters())
    out = tmp_path / 'metrics.json'
    root = str(tiny_market)
    torch.cuda.reset_peak_memory_stats()
    held_before = torch.cuda.memory_allocated()
    with strict_fp32():
        result = run_in_process(
            load_script(ROOT / 'tools/test.py', 'test_tool'), CONFIG, checkpoint,
            '--work-dir', tmp_path / 'work', '--out', out, '--cfg-options',
            f'test_dataloader.dataset.data_root={root}', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False')
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.cuda.max_memory_allocated() - held_before >= weight_bytes
    got = json.loads(out.read_text())
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(float(value), abs=1e-9), key
