"""tools/search.py on the tiny synthetic Market-1501: gallery search with a re-ID model.

Its first result for each query must be the gallery image the evaluation ranks first
(docs/reid.md, "Evaluation protocol": the same distance, junk and same-camera matches removed,
ties to the earlier image), computed here from the model's features of the test split as
tools/test.py computes them and ranked by the project's ``rank_metrics``. It must write one
ranked-list PNG per query and results.json, embed only the gallery images that are new or
changed since its cache was written, notice a cache made by another model, and refuse bad
input in one sentence.
"""
import json
import math
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from rga_mm.apis import ReIDInferencer, gallery_cache, init_model
from rga_mm.apis.gallery_cache import FileStamp
from rga_mm.datasets.folder_listing import IMAGE_SUFFIXES, image_files
from rga_mm.evaluation.functional import k_reciprocal_rerank, pairwise_distance, rank_metrics
from rga_mm.testing import load_script
from rga_mm.visualization import RankedListVisualizer
from rga_mm.visualization.image_inputs import file_pipeline, load_image_file
from rga_mm.visualization.ranked_list import (
    FRAME_WIDTH,
    LABEL_HEIGHT,
    MATCH_COLOURS,
    QUERY_GAP,
    RESULT_GAP,
)
from demo_model import calibrated_demo_checkpoint, samples_of_test_split
from reid_trees import add_links_that_lead_nowhere
from tool_runs import limit_file_size, run_in_process

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
TOOL = ROOT / 'tools/search.py'


@pytest.fixture(scope='module')
def market(tiny_market, tmp_path_factory) -> Path:
    """A copy of the tiny dataset that the tests may change."""
    root = tmp_path_factory.mktemp('search') / 'market'
    shutil.copytree(tiny_market, root)
    return root


@pytest.fixture(scope='module')
def checkpoints(market, tmp_path_factory) -> dict:
    """Two demo models from different initial weights: 0 with the BN statistics of the
    training set, whose rankings are compared with the evaluation's; 1 as built, another
    model for the cache."""
    folder = tmp_path_factory.mktemp('checkpoints')
    torch.manual_seed(1)
    other = folder / 'model1.pth'
    torch.save({'state_dict': init_model(CONFIG).state_dict()}, other)
    return {0: calibrated_demo_checkpoint(market, folder / 'model0.pth', 0), 1: other}


@pytest.fixture(scope='module')
def evaluated(market, checkpoints) -> tuple:
    """:func:`evaluation_features` of model 0."""
    return evaluation_features(market, checkpoints[0])


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL, 'search_tool')


@pytest.fixture(scope='module')
def search(tool):
    return lambda *argv: tool.main([str(arg) for arg in argv])


def evaluation_features(market: Path, checkpoint: Path) -> tuple:
    """Query and gallery features and labels of the test split, as tools/test.py gets
    them: the dataset (junk dropped), the test pipeline, ``test_step``."""
    samples = samples_of_test_split(init_model(CONFIG, str(checkpoint)), market, 32)
    query = [s for s in samples if s.is_query]
    gallery = [s for s in samples if not s.is_query]

    def stack(items):
        return (torch.stack([s.pred_feature for s in items]),
                np.array([int(s.gt_label) for s in items]),
                np.array([s.camera_id for s in items]),
                [s.img_path for s in items])

    return stack(query), stack(gallery)


def evaluation_ranks_first(distances: np.ndarray, query_id: int, query_cam: int,
                           gallery_ids: np.ndarray, gallery_cams: np.ndarray,
                           candidate: int) -> bool:
    """Whether ``rank_metrics`` ranks gallery item ``candidate`` first for this query row.

    Relabelled so that the candidate is the query's only match: the items the protocol
    removes for the real labels (same identity and camera; junk is not in the dataset)
    become junk, the candidate gets the query's identity, the others another one, and the
    query a camera no gallery item has. Rank-1 is then 1 exactly when the evaluation's
    ranking (stable: ties to the earlier item) puts the candidate first.
    """
    removed = (gallery_ids == query_id) & (gallery_cams == query_cam)
    ids = np.where(removed, -1, 2)
    ids[candidate] = -1 if removed[candidate] else 1
    if not (ids == 1).any():
        return False  # the candidate is one the protocol removes
    scores = rank_metrics(distances[None], np.array([1]), ids, np.array([-5]), gallery_cams,
                          max_rank=1)
    return scores['cmc'][0] == 1


@pytest.mark.parametrize('rerank', [False, True], ids=['plain', 'rerank'])
def test_first_results_are_what_the_evaluation_ranks_first(search, market, checkpoints,
                                                           evaluated, tmp_path, rerank):
    out = tmp_path / 'out'
    summary = search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test',
                     '--query', market / 'query', '--out', out, '--topk', 5,
                     *(['--rerank'] if rerank else []))
    report = json.loads((out / 'results.json').read_text())
    assert report['distance'] == 'cosine' and report['evaluation_protocol'] is True
    (query, query_ids, query_cams, query_paths), (gallery, gallery_ids, gallery_cams,
                                                  gallery_paths) = evaluated
    distmat = pairwise_distance(query, gallery, 'cosine').numpy()
    if rerank:
        distmat = k_reciprocal_rerank(distmat,
                                      pairwise_distance(query, query, 'cosine').numpy(),
                                      pairwise_distance(gallery, gallery, 'cosine').numpy())
    assert [entry['query'] for entry in report['queries']] == query_paths
    for row, entry in enumerate(report['queries']):
        assert len(entry['gallery']) == len(entry['distances']) == 5
        first = gallery_paths.index(entry['gallery'][0])  # junk is not in the dataset
        assert evaluation_ranks_first(distmat[row], query_ids[row], query_cams[row],
                                      gallery_ids, gallery_cams, first), entry['query']
        listed = [gallery_paths.index(path) for path in entry['gallery']]
        np.testing.assert_allclose(entry['distances'], distmat[row, listed], atol=1e-4)
        assert entry['distances'] == sorted(entry['distances'])
        assert entry['matches'] == [bool(gallery_ids[i] == query_ids[row]) for i in listed]
    assert summary['num_queries'] == len(query_paths)


def test_one_ranked_list_png_per_query(search, market, checkpoints, tmp_path):
    out = tmp_path / 'out'
    search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test',
           '--query', market / 'query', '--out', out, '--topk', 4)
    report = json.loads((out / 'results.json').read_text())
    pngs = sorted(out.glob('*.png'))
    assert [p.stem for p in pngs] == sorted(p.stem for p in (market / 'query').glob('*.jpg'))
    # the query and 4 results, 128×64 thumbnails in frames under their labels
    panel = 64 + 2 * FRAME_WIDTH
    size = (LABEL_HEIGHT + 128 + 2 * FRAME_WIDTH, 5 * panel + QUERY_GAP + 3 * RESULT_GAP)
    assert RankedListVisualizer(thumbnail_size=(128, 64)).canvas_size(4) == size
    for entry in report['queries']:
        picture = mmcv.imread(entry['png'], channel_order='rgb')
        assert picture.shape[:2] == size
        # the first result's frame: green for the query's identity, red for another
        left = panel + QUERY_GAP
        frame = picture[LABEL_HEIGHT + 1, left + panel // 2].astype(int)
        assert np.abs(frame - MATCH_COLOURS[entry['matches'][0]]).max() <= 8
        thumbnail = picture[LABEL_HEIGHT + FRAME_WIDTH:, left + FRAME_WIDTH:left + panel
                            - FRAME_WIDTH]
        shown = mmcv.imresize(mmcv.imread(entry['gallery'][0], channel_order='rgb'),
                              (64, 128), interpolation='area')
        assert np.abs(thumbnail[:128].astype(int) - shown).mean() < 3


def test_a_png_draws_the_first_results_of_a_longer_list_which_results_json_holds(
        tool, search, market, checkpoints, tmp_path, capsys):
    """--draw-topk results are drawn (a top k of a whole large gallery would be a picture
    wider than libpng writes, and slow to draw), results.json lists all k; 0 draws none."""
    out = tmp_path / 'out'
    query = sorted((market / 'query').glob('*.jpg'))[0]
    common = (CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
              query, '--topk', 7)
    search(*common, '--out', out, '--draw-topk', 3)
    assert (f'the ranked-list PNGs show the first 3 results of each query (--draw-topk); '
            f'{out / "results.json"} lists all 7') in capsys.readouterr().out
    entry, = json.loads((out / 'results.json').read_text())['queries']
    assert len(entry['gallery']) == len(entry['distances']) == len(entry['matches']) == 7
    size = RankedListVisualizer(thumbnail_size=(128, 64)).canvas_size(3)
    assert mmcv.imread(entry['png']).shape[:2] == size

    listed_only = tmp_path / 'listed_only'
    summary = search(*common, '--out', listed_only, '--draw-topk', 0)
    assert summary['pngs'] == [] and not list(listed_only.glob('*.png'))
    entry, = json.loads((listed_only / 'results.json').read_text())['queries']
    assert len(entry['gallery']) == 7 and 'png' not in entry
    assert (f'1 ranked list written to {listed_only / "results.json"} (no PNG: --draw-topk '
            f'0)') in capsys.readouterr().out
    for wrong, bound in (('101', 'at most 100 (results.json lists all of --topk)'),
                         ('-1', 'at least 0')):
        with pytest.raises(SystemExit):
            tool.parse_args([str(CONFIG), str(checkpoints[0]), '--gallery', 'g', '--query',
                             'q', '--out', 'o', '--draw-topk', wrong])
        assert (f'argument --draw-topk: must be {bound}, got {wrong}'
                in capsys.readouterr().err)
    with pytest.raises(SystemExit):
        tool.parse_args([str(CONFIG), str(checkpoints[0]), '--gallery', 'g', '--query', 'q',
                         '--draw-topk', '5'])
    assert capsys.readouterr().err.strip().endswith(
        '--draw-topk chooses what the PNGs of --out show; give --out DIR with it')


def test_a_bad_query_or_distance_stops_before_the_gallery_is_embedded(
        search, market, checkpoints, tmp_path):
    cache = tmp_path / 'cache.pth'
    args = (CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--cache', cache)
    query = sorted((market / 'query').glob('*.jpg'))[0]
    with pytest.raises(SystemExit, match=r"^test_evaluator.distance must be one of \('cosine', "
                                         r"'euclidean'\), got 'manhattan'$"):
        search(*args, '--query', query, '--cfg-options', 'test_evaluator.distance=manhattan')
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(query.read_bytes()[:100])
    with pytest.raises(SystemExit, match=rf'^cannot read image {broken}: '):
        search(*args, '--query', query, broken)
    assert not cache.exists()


def test_the_cache_embeds_only_what_changed(search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    shutil.copytree(market / 'bounding_box_test', gallery_folder)
    num_gallery = len(list(gallery_folder.glob('*.jpg')))
    out = tmp_path / 'out'
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', market / 'query',
            '--out', out, '--topk', 3)
    first = search(*args)
    assert (first['embedded'], first['from_cache']) == (num_gallery, 0)
    assert (out / 'gallery_cache.pth').is_file()
    results = (out / 'results.json').read_text()

    second = search(*args)
    assert (second['embedded'], second['from_cache']) == (0, num_gallery)
    assert f'{num_gallery} images, 0 embedded, {num_gallery} read' in capsys.readouterr().out
    assert (out / 'results.json').read_text() == results  # cached = embedded embeddings

    touched = sorted(gallery_folder.glob('*.jpg'))[7]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    third = search(*args)
    assert (third['embedded'], third['from_cache']) == (1, num_gallery - 1)
    assert third['embedded_files'] == [str(touched)]
    num_queries = len(list((market / 'query').glob('*.jpg')))
    phases = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith(('embedding', 'drawing'))]  # a line before each progress bar
    assert phases == [f'embedding {num_queries} query images',
                      f'embedding 1 of the {num_gallery} gallery images (the others read '
                      f'from the cache)', f'drawing {num_queries} ranked lists']

    # a file replaced by another image is embedded anew, not read from the cache
    replaced = sorted(gallery_folder.glob('*.jpg'))[12]
    shutil.copyfile(market / 'query' / sorted(os.listdir(market / 'query'))[0], replaced)
    fourth = search(*args)
    assert fourth['embedded_files'] == [str(replaced)]
    cache = torch.load(out / 'gallery_cache.pth', weights_only=True)
    row = cache['paths'].index(str(replaced))
    fresh = init_model(CONFIG, str(checkpoints[0]))
    data = fresh.data_preprocessor(pseudo_collate([_packed(fresh, replaced)]), False)
    torch.testing.assert_close(cache['features'][row],
                               fresh(data['inputs'], mode='tensor')[0], rtol=1e-3, atol=1e-3)

    # the key is the weights as loaded, not the file: a re-saved checkpoint with other
    # metadata keeps the cache
    resaved = tmp_path / 'resaved.pth'
    torch.save({'state_dict': torch.load(checkpoints[0], weights_only=True)['state_dict'],
                'meta': {'epoch': 80}}, resaved)
    again = search(CONFIG, resaved, *args[2:])
    assert (again['embedded'], again['from_cache']) == (0, num_gallery)

    capsys.readouterr()
    other = search(CONFIG, checkpoints[1], *args[2:])
    assert (other['embedded'], other['from_cache']) == (num_gallery, 0)
    assert 'was made by another model' in capsys.readouterr().out
    flipped = search(CONFIG, checkpoints[1], *args[2:], '--flip')
    assert flipped['embedded'] == num_gallery  # --flip changes the embeddings


def _packed(model, path: Path) -> dict:
    """``path`` as the model's test pipeline packs it."""
    pipeline, order = file_pipeline(model.cfg.test_dataloader.dataset.pipeline)
    return load_image_file(str(path), pipeline, order)


def test_bad_input_is_named_in_one_sentence(search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    shutil.copytree(market / 'bounding_box_test', gallery_folder)
    num_gallery = len(list(gallery_folder.glob('*.jpg')))
    num_junk = len(list(gallery_folder.glob('-1_*.jpg')))
    common = (CONFIG, checkpoints[0], '--query', market / 'query')

    summary = search(*common, '--gallery', gallery_folder, '--topk', 100)
    printed = capsys.readouterr().out
    assert (f"Market-1501 file names: as in the evaluation, the gallery's {num_junk} junk "
            f"image(s) (identity -1) and the images of the query's identity from its camera "
            f"are left out") in printed.splitlines()
    assert f'--topk 100 is more than the {num_gallery - num_junk} gallery images' in printed
    assert summary['topk'] == num_gallery - num_junk

    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match=r'folder .*empty holds no image file'):
        search(*common, '--gallery', tmp_path / 'empty')

    broken = sorted(gallery_folder.glob('*.jpg'))[5]
    broken.write_bytes(b'')
    with pytest.raises(SystemExit, match=rf'cannot read image {broken}: the file is empty '
                       r'\(0 bytes\); remove or replace it, or pass --skip-unreadable'):
        search(*common, '--gallery', gallery_folder)
    skipped = search(*common, '--gallery', gallery_folder, '--skip-unreadable', '--out',
                     tmp_path / 'skipped')
    assert skipped['skipped'] == [str(broken)]
    assert skipped['num_gallery'] == num_gallery - 1
    report = json.loads((tmp_path / 'skipped' / 'results.json').read_text())
    assert report['unreadable'] == dict(query=[], gallery=[str(broken)])

    few = tmp_path / 'few'
    few.mkdir()
    for image in sorted((market / 'bounding_box_test').glob('0*.jpg'))[:5]:
        shutil.copy(image, few)
    query = sorted((market / 'query').glob('*.jpg'))[0]
    with pytest.raises(SystemExit, match=r'--rerank: re-ranking needs 1 <= k1 <= 5 .* got '
                                         r'k1=20; search without --rerank'):
        search(CONFIG, checkpoints[0], '--query', query, '--gallery', few, '--rerank')

    with pytest.raises(SystemExit):
        search(*common, '--gallery', gallery_folder, '--cache', tmp_path)
    assert f'--cache {tmp_path} is a folder; give a file name' in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the next search of the gallery would read it
        search(*common, '--gallery', gallery_folder, '--cache', gallery_folder / 'cache.JPG')
    assert (f'--cache {gallery_folder / "cache.JPG"} has an image file suffix: a search of '
            f'its folder would take it for an image') in capsys.readouterr().err

    not_a_cache = tmp_path / 'weights.pth'
    shutil.copy(checkpoints[0], not_a_cache)
    before = not_a_cache.read_bytes()
    with pytest.raises(SystemExit, match=rf'--cache {not_a_cache} exists and is no gallery '
                                         r'cache of tools/search.py .*leaves it as it is'):
        search(*common, '--gallery', gallery_folder, '--cache', not_a_cache)
    assert not_a_cache.read_bytes() == before
    damaged = tmp_path / 'damaged.pth'
    damaged.write_bytes(b'')
    with pytest.raises(SystemExit, match=r"\(EOFError: \); search leaves it as it is: give "
                                         r"another --cache file, or delete this one if it is "
                                         r"a cache damaged since"):
        search(*common, '--gallery', gallery_folder, '--cache', damaged)

    misfit = tmp_path / 'misfit.pth'
    torch.save({'state_dict': init_model(
        CONFIG, cfg_options={'model.head.num_classes': 9}).state_dict()}, misfit)
    with pytest.raises(SystemExit, match=rf"{misfit}: checkpoint tensor 'head.classifier"):
        search(CONFIG, misfit, '--query', market / 'query', '--gallery', gallery_folder)


def test_the_command_line_exits_with_the_sentence(fresh_interpreter):
    """The last run of the fresh interpreter: ``tools/search.py`` as ``__main__`` with a
    gallery that does not exist."""
    result = fresh_interpreter.process
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f'gallery {fresh_interpreter.folder / "missing"} does not exist']


def _gallery_copy(market: Path, folder: Path) -> list[Path]:
    """A copy of the tiny gallery in ``folder``; its images in the tool's (name) order."""
    shutil.copytree(market / 'bounding_box_test', folder)
    return [Path(path) for path in image_files(folder)]


def test_cfg_options_reach_the_cache_key_the_pipeline_and_the_distance(
        search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    num_gallery = len(_gallery_copy(market, gallery_folder))
    query = sorted((market / 'query').glob('*.jpg'))[0]
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', query, '--cache',
            tmp_path / 'cache.pth')
    assert search(*args)['embedded'] == num_gallery
    # the data preprocessor's mean is no tensor of the checkpoint: only the merged config
    # tells the cache that the embeddings change
    other = search(*args, '--cfg-options', 'model.data_preprocessor.mean=[0,0,0]')
    assert (other['embedded'], other['from_cache']) == (num_gallery, 0)
    assert 'was made by another model' in capsys.readouterr().out

    out = tmp_path / 'out'
    summary = search(*args, '--out', out, '--cfg-options', 'test_evaluator.distance=euclidean')
    assert summary['distance'] == 'euclidean'
    report = json.loads((out / 'results.json').read_text())
    assert report['distance'] == 'euclidean'
    inferencer = ReIDInferencer(CONFIG, str(checkpoints[0]), 'cpu', show_progress=False)
    cache = torch.load(tmp_path / 'cache.pth', weights_only=True)
    entry = report['queries'][0]
    gallery = cache['features'][[cache['paths'].index(path) for path in entry['gallery']]]
    expected = pairwise_distance(inferencer(str(query)), gallery, 'euclidean')[0]
    np.testing.assert_allclose(entry['distances'], expected.numpy(), rtol=1e-4, atol=1e-4)

    # a mistyped key is named as it was given, on the command line
    with pytest.raises(SystemExit, match=re.escape(
            "--cfg-options test_evaluator.distanse: test_evaluator in the config")):
        search(*args, '--cfg-options', 'test_evaluator.distanse=euclidean')

    # the test pipeline follows an override too: another input size reaches the model,
    # whose RGA modules were built for 64×32 images, as in tools/test.py
    with pytest.raises(SystemExit, match=r'RGA was built for a 16×8 map but received 8×4'):
        search(*args, '--cfg-options', 'test_dataloader.dataset.pipeline.1.scale=(16,32)')


def test_a_name_that_is_no_market_name_turns_the_protocol_off_in_one_line(
        search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    shutil.copy(images[-1], gallery_folder / 'IMG_0001.jpg')
    shutil.copy(images[-2], gallery_folder / 'IMG_0002.jpg')
    queries = sorted((market / 'query').glob('*.jpg'))
    out = tmp_path / 'out'
    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', *queries,
           '--out', out)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith('evaluation protocol off')]
    assert lines == [
        f'evaluation protocol off: 2 of the {len(images) + 2} gallery file names are no '
        f'Market-1501 name like 0001_c1s1_000151_01.jpg (any image suffix; the first: '
        f'{gallery_folder / "IMG_0001.jpg"}), so junk images are kept, images of the '
        f'query\'s identity from its camera are not left out and the ranked lists get no '
        f'green or red frames']
    report = json.loads((out / 'results.json').read_text())
    assert report['evaluation_protocol'] is False
    assert all('matches' not in entry for entry in report['queries'])

    odd_query = tmp_path / 'me.jpg'
    shutil.copy(queries[0], odd_query)
    search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
           odd_query, *queries[1:])
    printed = capsys.readouterr().out
    assert (f'evaluation protocol off: 1 of the {len(queries)} query file names are no '
            f'Market-1501 name like 0001_c1s1_000151_01.jpg (any image suffix; the first: '
            f'{odd_query})'
            in printed)
    assert 'gallery file names' not in printed


def test_market_names_with_another_image_suffix_keep_the_protocol(
        search, market, checkpoints, tmp_path, capsys):
    """The protocol reads identity and camera from the name; a gallery converted to PNG
    keeps it (and its junk is still left out)."""
    gallery_folder = tmp_path / 'png_gallery'
    gallery_folder.mkdir()
    images = sorted((market / 'bounding_box_test').glob('*.jpg'))
    for image in images:
        mmcv.imwrite(mmcv.imread(str(image)), str(gallery_folder / f'{image.stem}.png'))
    query = sorted((market / 'query').glob('*.jpg'))[0]
    summary = search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', query,
                     '--topk', 200)
    printed = capsys.readouterr().out
    assert 'evaluation protocol off' not in printed
    num_junk = sum(image.name.startswith('-1_') for image in images)
    assert num_junk and summary['topk'] == len(images) - num_junk


def _stopping_after(batches: int, stop) -> callable:
    """``ReIDInferencer.embed_batches`` that calls ``stop()`` after ``batches`` batches of
    one call."""
    embed_batches = ReIDInferencer.embed_batches

    def stopping(self, *args, **kwargs):
        for number, batch in enumerate(embed_batches(self, *args, **kwargs), 1):
            yield batch
            if number == batches:
                stop()
    return stopping


def _interrupt() -> None:
    raise KeyboardInterrupt


def _terminate(signum: int = signal.SIGTERM) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(5)  # the handler raises before this ends


# how a search is stopped → (stopping it, its exit status, its name in the stopped line)
STOPS = {'sigint': (_interrupt, 130, 'SIGINT (Ctrl-C)'),
         'sigterm': (_terminate, 143, 'SIGTERM'),
         # an ssh connection that drops, a terminal closed
         'sighup': (lambda: _terminate(signal.SIGHUP), 129, 'SIGHUP')}


@pytest.mark.parametrize('how', ['sigint', 'sigterm', 'sighup'])
def test_a_stopped_search_keeps_the_embeddings_done(search, market, checkpoints, tmp_path,
                                                    capsys, monkeypatch, how):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    cache = tmp_path / 'cache.pth'
    # one query: its batch, embedded first, is no batch of the gallery's call that stops
    query = sorted((market / 'query').glob('*.jpg'))[0]
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', query, '--cache',
            cache, '--batch-size', 4)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    stopping, status, name = STOPS[how]
    with monkeypatch.context() as patch:
        patch.setattr(ReIDInferencer, 'embed_batches', _stopping_after(2, stopping))
        with pytest.raises(SystemExit) as stop:
            search(*args)
    assert stop.value.code == status
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'search stopped by {name}: 8 gallery embeddings are kept in the cache {cache}, so '
        f'the same command embeds only the rest')
    for signum, handler in handlers.items():  # the tool's handlers are undone
        assert signal.getsignal(signum) == handler
    kept = torch.load(cache, weights_only=True)
    assert kept['paths'] == [str(path) for path in images[:8]]
    assert list(tmp_path.glob('*.partial')) == []

    again = search(*args)
    assert (again['embedded'], again['from_cache']) == (len(images) - 8, 8)
    assert (f'{len(images)} images, {len(images) - 8} embedded, 8 read from the cache'
            in capsys.readouterr().out)


def test_a_sighup_that_is_ignored_stays_ignored(tool):
    """A search started with ``nohup`` goes on when its terminal closes."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with tool.termination_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == tool._raise_terminated
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize('how', ['sigint', 'sigterm'])
def test_a_search_stopped_while_drawing_says_so(search, tool, market, checkpoints, tmp_path,
                                                capsys, monkeypatch, how):
    """Once drawing starts, everything is embedded and results.json written: the line says
    how many PNGs are drawn, not that embeddings are kept for the rest."""
    queries = sorted((market / 'query').glob('*.jpg'))[:3]
    out = tmp_path / 'out'
    write_output, pngs_written = tool.write_output, []

    def stopping_after_one_png(path, data):
        if str(path).endswith('.png') and pngs_written:
            (_interrupt if how == 'sigint' else _terminate)()
        write_output(path, data)
        if str(path).endswith('.png'):
            pngs_written.append(path)

    monkeypatch.setattr(tool, 'write_output', stopping_after_one_png)
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
               *queries, '--out', out)
    assert stop.value.code == (130 if how == 'sigint' else 143)
    name = 'SIGINT (Ctrl-C)' if how == 'sigint' else 'SIGTERM'
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"search stopped by {name} while drawing: results.json lists every query's results, "
        f"1 of the 3 ranked-list PNGs are drawn; run the same command again to draw them all")
    assert len(json.loads((out / 'results.json').read_text())['queries']) == 3
    assert len(list(out.glob('*.png'))) == 1 and not list(out.glob('*.partial'))


def test_the_usage_line_puts_the_two_files_first(tool, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(['--gallery', 'g', '--query', 'q.jpg', 'config.py', 'model.pth'])
    usage = capsys.readouterr().err.splitlines()[0]
    assert usage.startswith('usage: ') and usage.split()[2:4] == ['CONFIG', 'CHECKPOINT']


def test_an_unreadable_image_late_in_the_gallery_keeps_the_images_before_it(
        search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    broken = images[-3]
    broken.write_bytes(b'not a jpeg')
    cache = tmp_path / 'cache.pth'
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query',
            market / 'query', '--cache', cache, '--batch-size', 4)
    before = len(images) - 3  # not a multiple of 4: part of a batch is kept too
    with pytest.raises(SystemExit, match=rf'cannot read image {broken}: 10 bytes .*; remove '
                       rf'or replace it, or pass --skip-unreadable to leave such images out '
                       rf'\(the {before} gallery embeddings done are kept in the cache '
                       rf'{cache}\)$'):
        search(*args)
    assert torch.load(cache, weights_only=True)['paths'] == [str(p) for p in images[:before]]

    broken.unlink()
    capsys.readouterr()
    again = search(*args)
    assert again['embedded_files'] == [str(path) for path in images[before + 1:]]
    assert (f'{len(images) - 1} images, 2 embedded, {before} read from the cache'
            in capsys.readouterr().out)


def test_the_cache_is_written_while_the_gallery_is_embedded(search, market, checkpoints,
                                                            tmp_path, monkeypatch):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    written = []
    write_cache = gallery_cache.write_cache

    def counting(cache, key, paths, *rest):
        written.append(len(paths))
        write_cache(cache, key, paths, *rest)

    monkeypatch.setattr(gallery_cache, 'SAVE_INTERVAL_S', 0)
    monkeypatch.setattr(gallery_cache, 'SAVE_MAX_SHARE', math.inf)  # however long a write takes
    monkeypatch.setattr(gallery_cache, 'write_cache', counting)
    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', market / 'query',
           '--cache', tmp_path / 'cache.pth', '--batch-size', 8)
    batches = list(range(8, len(images), 8)) + [len(images)]
    assert written == batches + [len(images)]  # after every batch, then the final cache


@pytest.mark.parametrize('rerank', [False, True], ids=['plain', 'rerank'])
def test_a_query_that_is_a_gallery_file_is_left_out_of_its_own_list(
        search, market, checkpoints, tmp_path, capsys, rerank):
    gallery_folder = tmp_path / 'gallery'
    gallery_folder.mkdir()
    for number, image in enumerate(sorted((market / 'bounding_box_test').glob('*.jpg'))):
        shutil.copy(image, gallery_folder / f'person_{number:03d}.jpg')
    own = gallery_folder / 'person_007.jpg'
    linked = tmp_path / 'linked.jpg'
    os.link(own, linked)  # the same file under another path
    copied = tmp_path / 'copied.jpg'
    shutil.copy(own, copied)  # another file with the same pixels
    out = tmp_path / 'out'
    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', own, linked,
           copied, '--out', out, '--topk', 5, *(['--rerank'] if rerank else []))
    printed = capsys.readouterr().out
    # the hard link is the query's file again: searched once, as the first path given
    assert (f'query: 1 of the 3 paths are left out as the same file as an earlier path (the '
            f'first: {linked}, the same file as {own}); each file is searched once') in printed
    assert '1 of the 2 queries are also gallery files: each is left out of its own ranked ' \
           'list' in printed
    report = json.loads((out / 'results.json').read_text())
    own_entry, copy_entry = report['queries']
    assert str(own) not in own_entry['gallery'] and len(own_entry['gallery']) == 5
    assert copy_entry['gallery'][0] == str(own)
    assert all(distance >= 0 for entry in report['queries'] for distance in entry['distances'])

    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', copied)
    printed = capsys.readouterr().out
    assert f'  #1 0.0000 {own}' in printed and '-0.0000' not in printed


def test_results_json_holds_absolute_paths(search, market, checkpoints, tmp_path,
                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(market / 'query', 'query')
    shutil.copy(checkpoints[0], 'model.pth')
    search(os.path.relpath(CONFIG), 'model.pth', '--gallery',
           os.path.relpath(market / 'bounding_box_test'), '--query', 'query', '--out', 'out',
           '--topk', 2)
    report = json.loads(Path('out/results.json').read_text())
    assert report['config'] == os.path.abspath(CONFIG)
    assert report['checkpoint'] == str(tmp_path / 'model.pth')
    assert report['gallery'] == [os.path.abspath(market / 'bounding_box_test')]
    paths = report['gallery'] + [path for entry in report['queries']
                                   for path in (entry['query'], entry['png'], *entry['gallery'])]
    assert all(os.path.isabs(path) and os.path.exists(path) for path in paths)
    assert report['queries'][0]['png'].startswith(str(tmp_path / 'out'))


@pytest.mark.parametrize('link', [os.link, os.symlink], ids=['hard-link', 'symlink'])
def test_the_querys_file_under_another_gallery_name_is_left_out_of_its_list(
        search, market, checkpoints, tmp_path, capsys, link):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    query = tmp_path / sorted((market / 'query').glob('*.jpg'))[0].name
    shutil.copy(market / 'query' / query.name, query)
    identity = query.name.split('_')[0]
    # the protocol keeps these names: the query's identity, from a camera of no query
    again = gallery_folder / f'{identity}_c9s1_000001_00.jpg'
    link(query, again)
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--topk', len(images) + 1)
    for queried in (query, again):  # a query outside the gallery, and one of its files
        found = search(*args, '--query', queried, '--out', tmp_path / 'out')
        assert '1 of the 1 queries are also gallery files: each is left out of its own ' \
               'ranked list' in capsys.readouterr().out
        report = json.loads(Path(found['results']).read_text())
        assert report['evaluation_protocol'] is True
        assert str(again) not in report['queries'][0]['gallery']

    renamed = tmp_path / 'renamed'  # no Market-1501 names: the protocol is off
    renamed.mkdir()
    for number, image in enumerate(images):
        shutil.copy(image, renamed / f'person_{number:03d}.jpg')
    link(query, renamed / 'person_again.jpg')
    search(CONFIG, checkpoints[0], '--gallery', renamed, '--query', query, '--topk',
           len(images) + 1)
    printed = capsys.readouterr().out
    assert '1 of the 1 queries are also gallery files' in printed
    assert 'person_again.jpg' not in printed and printed.count('  #') == len(images)


def test_a_cache_that_cannot_be_written_stops_the_search_before_the_embedding(
        search, market, checkpoints, tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    cache = a_file / 'cache.pth'
    with pytest.raises(SystemExit, match=rf'^--cache {cache}: {a_file} is a file, not a '
                                         r'folder; choose another path$'):
        search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
               market / 'query', '--cache', cache)
    assert a_file.read_text() == ''


def test_an_out_folder_that_is_the_gallery_is_refused_before_any_work(search, market,
                                                                      checkpoints, tmp_path):
    """Its PNGs would be gallery images of the next search (and those in a query folder,
    queries); a subfolder is not read, so it may hold them."""
    gallery_folder = tmp_path / 'gallery'
    shutil.copytree(market / 'bounding_box_test', gallery_folder)
    (tmp_path / 'link').symlink_to(gallery_folder)
    before = sorted(gallery_folder.iterdir())
    for out in (gallery_folder, tmp_path / 'link'):
        with pytest.raises(SystemExit) as stop:
            search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', gallery_folder,
                   '--query', market / 'query', '--out', out)
        assert str(stop.value) == (
            f'--out {out} is the gallery folder {gallery_folder}, where the ranked-list PNGs '
            f'would be searched as gallery images next time; choose another folder (a '
            f'subfolder of it is not read)')
    assert sorted(gallery_folder.iterdir()) == before
    with pytest.raises(SystemExit, match=re.escape(
            f'--out {market / "query"} is the query folder {market / "query"}, where the '
            f'ranked-list PNGs would be searched as query images next time')):
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', gallery_folder,
               '--query', market / 'query', '--out', market / 'query')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query', query, '--out',
           gallery_folder / 'lists', '--topk', '3')
    assert sorted(gallery_folder.iterdir()) == sorted(before + [gallery_folder / 'lists'])


def test_an_out_folder_that_holds_a_file_given_by_name_is_refused_before_any_work(
        search, market, tmp_path):
    """``--gallery gallery/*`` gives the folder's files by name: PNGs written there would be
    gallery images of the next search of ``gallery/*`` (and a query file's folder would give
    queries), also through a link to the folder."""
    gallery_folder = tmp_path / 'gallery'
    globbed = _gallery_copy(market, gallery_folder)
    (tmp_path / 'link').symlink_to(gallery_folder)
    before = sorted(gallery_folder.iterdir())
    for out in (gallery_folder, tmp_path / 'link'):
        with pytest.raises(SystemExit) as stop:
            search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', *globbed,
                   '--query', market / 'query', '--out', out)
        assert str(stop.value) == (
            f'--out {out} is the folder of the gallery file {globbed[0]}, where the ranked-list '
            f'PNGs would be searched as gallery images by a search of its files '
            f'({gallery_folder}/*); choose another folder')
    assert sorted(gallery_folder.iterdir()) == before

    query_folder = tmp_path / 'query'
    query_folder.mkdir()
    query = Path(shutil.copy(sorted((market / 'query').glob('*.jpg'))[0], query_folder))
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', gallery_folder,
               '--query', query, '--out', query_folder)
    assert str(stop.value) == (
        f'--out {query_folder} is the folder of the query file {query}, where the ranked-list '
        f'PNGs would be searched as query images by a search of its files ({query_folder}/*); '
        f'choose another folder')
    assert os.listdir(query_folder) == [query.name]


@pytest.mark.parametrize('name', ['results.json', 'results.json.partial', 'QUERY.png.partial'])
def test_a_cache_that_the_out_folder_would_overwrite_is_refused_before_any_work(
        search, market, tmp_path, name):
    """results.json (or a file written on the way to it or to a ranked-list PNG) would
    replace the gallery cache, and the next search would refuse it as no cache."""
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    (tmp_path / 'link').symlink_to(out, target_is_directory=True)
    name = name.replace('QUERY', query.stem)
    cache = tmp_path / 'link' / name
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', market / 'bounding_box_test',
               '--query', query, '--out', out, '--cache', cache)
    assert str(stop.value) == (
        f'--cache {cache} is {out / name}, a file the search writes in --out {out}, so the '
        f'gallery cache would be lost; give another --cache file, or none for the default '
        f'{out / "gallery_cache.pth"}')
    assert not out.exists()


def test_junk_images_are_not_counted_for_rerank_before_the_embedding(search, market,
                                                                     checkpoints, tmp_path):
    """With Market-1501 names the protocol drops the junk (identity -1) before re-ranking,
    so 5 gallery images and 25 junk ones are too few: the search stops once the folder is
    listed (the unreadable junk image is never read, --out not created)."""
    images = sorted((market / 'bounding_box_test').glob('0*.jpg'))[:5]
    gallery_folder = tmp_path / 'gallery'
    gallery_folder.mkdir()
    for image in images:
        shutil.copy(image, gallery_folder)
    for number in range(24):
        shutil.copy(images[0], gallery_folder / f'-1_c1s1_{number:06d}_00.jpg')
    (gallery_folder / '-1_c2s1_000099_00.jpg').write_bytes(b'not a jpeg')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoints[0], '--query', query, '--gallery', gallery_folder,
               '--rerank', '--out', out)
    assert str(stop.value) == (
        '--rerank: re-ranking needs 1 <= k1 <= 5 (the number of query and gallery images, 6, '
        'minus one), got k1=20; the gallery\'s 25 junk image(s) (identity -1) are not '
        'counted, as the evaluation protocol leaves them out; search without --rerank')
    assert not out.exists()


def test_a_gallery_of_junk_images_only_stops_before_the_embedding(search, market,
                                                                  checkpoints, tmp_path):
    """Every gallery name has identity -1: the search stops once the folder is listed (the
    unreadable junk image is never read, --out not created)."""
    image = sorted((market / 'bounding_box_test').glob('0*.jpg'))[0]
    gallery_folder = tmp_path / 'gallery'
    gallery_folder.mkdir()
    for number in range(3):
        shutil.copy(image, gallery_folder / f'-1_c1s1_{number:06d}_00.jpg')
    (gallery_folder / '-1_c2s1_000099_00.jpg').write_bytes(b'not a jpeg')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoints[0], '--query', query, '--gallery', gallery_folder,
               '--out', out)
    assert str(stop.value) == 'every gallery image is junk (identity -1): nothing to search'
    assert not out.exists()


def test_too_few_images_to_rerank_stop_before_the_embedding(search, market, checkpoints,
                                                            tmp_path):
    """The counts are known once the folders are listed: the broken image is never read and
    --out is not created."""
    few = tmp_path / 'few'
    few.mkdir()
    for image in sorted((market / 'bounding_box_test').glob('0*.jpg'))[:5]:
        shutil.copy(image, few)
    (few / 'broken.jpg').write_bytes(b'not a jpeg')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoints[0], '--query', query, '--gallery', few, '--rerank',
               '--out', out)
    assert str(stop.value) == ('--rerank: re-ranking needs 1 <= k1 <= 6 (the number of query '
                               'and gallery images, 7, minus one), got k1=20; search without '
                               '--rerank')
    assert not out.exists()


def test_subfolders_of_images_are_named_and_not_searched(search, market, checkpoints,
                                                          tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    query_folder = tmp_path / 'query'
    shutil.copytree(market / 'query', query_folder)
    for subfolder in (gallery_folder / 'cam2', gallery_folder / 'cam1', query_folder / 'more'):
        subfolder.mkdir()
        shutil.copy(images[0], subfolder / 'deeper.jpg')
    summary = search(CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query',
                     query_folder, '--topk', 1)
    printed = capsys.readouterr().out.splitlines()
    rest = ('only the images directly in a folder are read; move them up, or give such a '
            'subfolder as a folder of its own')
    assert (f'{gallery_folder} has 2 subfolders of images that are not read (the first: '
            f'{gallery_folder / "cam1"}): {rest}') in printed
    assert (f'{query_folder} has 1 subfolder of images that are not read (the first: '
            f'{query_folder / "more"}): {rest}') in printed
    assert summary['num_gallery'] == len(images)
    assert summary['num_queries'] == len(list(query_folder.glob('*.jpg')))


def test_an_out_folder_where_an_output_would_overwrite_an_input_file_is_refused(
        search, market, checkpoints, tmp_path):
    """The folder of a query ``q.png`` would receive its ranked list as ``q.png``; a gallery
    file given one by one is covered too. Both are refused before any embedding (the second
    before the model is loaded: its checkpoint does not exist)."""
    folder = tmp_path / 's'
    folder.mkdir()
    query = folder / 'q.png'
    shutil.copy(sorted((market / 'query').glob('*.jpg'))[0], query)
    before = query.read_bytes()
    gallery = sorted((market / 'bounding_box_test').glob('*.jpg'))
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
               query, '--out', folder)
    assert str(stop.value) == (f'--out: the output {query} would overwrite the input {query}; '
                               f'choose another path')
    assert query.read_bytes() == before and sorted(folder.iterdir()) == [query]

    shown = folder / 'shown.png'  # a gallery file named as a query's ranked list
    shutil.copy(gallery[0], shown)
    other_query = tmp_path / 'shown.jpg'
    shutil.copy(sorted((market / 'query').glob('*.jpg'))[0], other_query)
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', shown, *gallery[1:],
               '--query', other_query, '--out', folder)
    assert str(stop.value) == (f'--out: the output {shown} would overwrite the input {shown}; '
                               f'choose another path')
    assert shown.read_bytes() == gallery[0].read_bytes()


def test_a_file_given_under_several_paths_is_searched_and_embedded_once(
        search, market, checkpoints, tmp_path, capsys):
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    link = tmp_path / 'link'
    link.symlink_to(gallery_folder)
    query = sorted((market / 'query').glob('*.jpg'))[0]
    hard_link = tmp_path / query.name
    os.link(shutil.copy(query, tmp_path / 'query.jpg'), hard_link)
    out = tmp_path / 'out'
    summary = search(CONFIG, checkpoints[0], '--gallery', gallery_folder, link, gallery_folder,
                     '--query', hard_link, tmp_path / 'query.jpg', '--out', out,
                     '--topk', len(images))
    printed = capsys.readouterr().out.splitlines()
    first = image_files(link)[0]
    assert (f'gallery: {2 * len(images)} of the {3 * len(images)} paths are left out as the '
            f'same file as an earlier path (the first: {first}, the same file as '
            f'{images[0]}); each file is searched once') in printed
    assert (f'query: 1 of the 2 paths are left out as the same file as an earlier path (the '
            f'first: {tmp_path / "query.jpg"}, the same file as {hard_link}); each file is '
            f'searched once') in printed
    assert (f'gallery {gallery_folder} and 2 more: {len(images)} images, {len(images)} '
            f'embedded, 0 read from the cache {out / "gallery_cache.pth"}') in printed
    assert (summary['num_gallery'], summary['embedded'], summary['num_queries']) == (
        len(images), len(images), 1)
    entry, = json.loads((out / 'results.json').read_text())['queries']
    assert entry['query'] == str(hard_link)
    assert len({os.path.realpath(path) for path in entry['gallery']}) == len(entry['gallery'])
    assert {Path(path).parent for path in entry['gallery']} == {gallery_folder}


def test_a_path_given_twice_is_named_so_and_its_folder_noticed_once(
        search, market, checkpoints, tmp_path, capsys):
    """``g`` and ``g/`` are one folder: its subfolder notice is printed once and
    results.json lists it once; a query file given twice is said to be given twice."""
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    (gallery_folder / 'cam1').mkdir()
    shutil.copy(images[0], gallery_folder / 'cam1' / 'deeper.jpg')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    search(CONFIG, checkpoints[0], '--gallery', gallery_folder, f'{gallery_folder}/',
           '--query', query, query, '--out', out, '--topk', 1)
    printed = capsys.readouterr().out.splitlines()
    assert (f'query: 1 of the 2 paths are left out as the same file as an earlier path (the '
            f'first: {query}, given twice); each file is searched once') in printed
    assert sum('subfolder of images that are not read' in line for line in printed) == 1
    assert json.loads((out / 'results.json').read_text())['gallery'] == [str(gallery_folder)]


def test_an_out_that_is_a_file_is_refused_before_any_work(search, market, tmp_path):
    a_file = tmp_path / 'lists.png'
    a_file.write_bytes(b'not a folder')
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery',
               market / 'bounding_box_test', '--query', market / 'query', '--out', a_file)
    assert str(stop.value) == (f'--out {a_file}: {a_file} is a file, not a folder; choose a '
                               f'folder for the ranked-list PNGs and results.json')
    assert a_file.read_bytes() == b'not a folder'


def test_a_query_that_is_no_regular_file_or_folder_is_named(search, market, tmp_path):
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', market / 'bounding_box_test',
               '--query', '/dev/null')
    assert str(stop.value) == ('query /dev/null exists but is not a regular file or a folder '
                               '(a device, a FIFO or a socket?); give image files or folders '
                               'of them to --query')


def test_a_gallery_file_with_a_trailing_slash_is_named_a_file(search, tmp_path):
    image = tmp_path / 'base.png'
    mmcv.imwrite(np.zeros((64, 32, 3), np.uint8), str(image))
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', f'{image}/', '--query',
               image)
    assert str(stop.value) == (f"gallery {image}/ is a file, not a folder: drop the trailing "
                               f"'/'")


def test_a_model_that_cannot_be_loaded_leaves_no_out_folder(search, market, checkpoints,
                                                           tmp_path):
    """The folder is made once the model is loaded."""
    out = tmp_path / 'out'
    missing = tmp_path / 'no_checkpoint.pth'
    with pytest.raises(SystemExit, match=f'^checkpoint file {re.escape(str(missing))} does '
                                         f'not exist$'):
        search(CONFIG, missing, '--gallery', market / 'bounding_box_test', '--query',
               market / 'query', '--out', out)
    assert not out.exists()
    # refused once the model is loaded (a checkpoint given as the cache): the folders the
    # search made are removed again, empty as they are
    with pytest.raises(SystemExit, match='is no gallery cache'):
        search(CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--query',
               market / 'query', '--out', out / 'lists', '--cache', checkpoints[0])
    assert not out.exists()


def test_files_without_an_image_suffix_given_by_a_glob_are_skipped(
        search, market, checkpoints, tmp_path, capsys):
    """``--gallery gallery/*`` gives the shell's list, README.txt and Thumbs.db included: they
    are skipped in one line, as the folder's own listing leaves them out; a file with an
    image suffix that cannot be decoded still stops the search."""
    gallery_folder = tmp_path / 'gallery'
    images = _gallery_copy(market, gallery_folder)
    for name in ('Thumbs.db', 'README.txt'):
        (gallery_folder / name).write_text('no image')
    globbed = sorted(gallery_folder.iterdir())
    query = sorted((market / 'query').glob('*.jpg'))[0]
    args = (CONFIG, checkpoints[0], '--query', query, '--cache', tmp_path / 'cache.pth',
            '--topk', 1)
    summary = search(*args, '--gallery', *globbed, '--out', tmp_path / 'out')
    suffixes = ', '.join(IMAGE_SUFFIXES)
    printed = capsys.readouterr().out.splitlines()
    assert (f'gallery: skipping the 2 given file(s) whose names end in no image suffix '
            f'({suffixes}): {gallery_folder / "README.txt"}, {gallery_folder / "Thumbs.db"}'
            in printed)
    assert summary['num_gallery'] == len(images)
    # the skipped files are neither counted in the gallery's line nor listed in results.json
    assert any(line.startswith(f'gallery {images[0]} and {len(images) - 1} more: ')
               for line in printed), printed
    written = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert written['gallery'] == [str(image) for image in images]

    broken = tmp_path / 'broken.jpg'
    broken.write_text('no image')
    with pytest.raises(SystemExit, match=rf'^cannot read image {broken}: '):
        search(*args, '--gallery', *globbed, broken)

    notes = [gallery_folder / 'README.txt', gallery_folder / 'Thumbs.db']
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', gallery_folder,
               '--query', *notes)
    assert str(stop.value) == (
        f'query: none of the 2 files given has an image suffix ({suffixes}), so there is '
        f'nothing to search ({notes[0]}, {notes[1]}); give image files or folders of them to '
        f'--query')


def test_images_listed_in_a_file_are_searched(search, market, checkpoints, tmp_path):
    """``--gallery @FILE``: the paths FILE lists, one a line, as given on the command line;
    how an annotation file's gallery rows reach a search (docs/reid.md), however many."""
    images = sorted((market / 'bounding_box_test').glob('0*.jpg'))[:5]
    listed = tmp_path / 'gallery.txt'
    listed.write_text(''.join(f'{image}\n' for image in images))
    query = sorted((market / 'query').glob('*.jpg'))[0]
    queries = tmp_path / 'query.txt'
    queries.write_text(f'{query}\n')
    summary = search(CONFIG, checkpoints[0], '--gallery', f'@{listed}', '--query',
                     f'@{queries}', '--protocol', 'off', '--out', tmp_path / 'out')
    assert (summary['num_gallery'], summary['num_queries']) == (5, 1)
    written = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert written['gallery'] == [str(image) for image in images]


def test_one_cache_keeps_the_embeddings_of_every_gallery_searched(search, market, checkpoints,
                                                                 tmp_path):
    """Galleries A, B, then A again: A is read from the cache; a write drops the rows of
    files removed since and keeps the others as they were."""
    images = _gallery_copy(market, tmp_path / 'all')
    galleries = {}
    for name, part in (('a', images[:20]), ('b', images[20:]), ('c', images[-1:])):
        galleries[name] = tmp_path / name
        galleries[name].mkdir()
        for image in part:
            shutil.copy(image, galleries[name])
    cache = tmp_path / 'cache.pth'
    query = sorted((market / 'query').glob('*.jpg'))[0]
    args = (CONFIG, checkpoints[0], '--query', query, '--cache', cache, '--topk', 1)
    assert search(*args, '--gallery', galleries['a'])['embedded'] == 20
    assert search(*args, '--gallery', galleries['b'])['embedded'] == len(images) - 20
    again = search(*args, '--gallery', galleries['a'])
    assert (again['embedded'], again['from_cache']) == (0, 20)

    before = torch.load(cache, weights_only=True)
    removed = image_files(galleries['b'])[0]
    os.remove(removed)
    assert search(*args, '--gallery', galleries['c'])['embedded'] == 1
    after = torch.load(cache, weights_only=True)
    assert sorted(after['paths']) == sorted(
        image_files(galleries['a']) + image_files(galleries['b']) + image_files(galleries['c']))
    for path in image_files(galleries['a']) + image_files(galleries['b']):
        torch.testing.assert_close(after['features'][after['paths'].index(path)],
                                   before['features'][before['paths'].index(path)],
                                   rtol=0, atol=0)


# above the results.json of one query's first result (< 1 kB); below the gallery cache (36
# rows of 512 floats, 80 kB), a ranked-list PNG (35 kB) and the results.json of every query's
# whole list (34 kB)
FILE_SIZE_LIMIT = 20_000


def searches_in_a_fresh_interpreter(runs: str, command: str) -> None:
    """(The child process of :func:`fresh_interpreter`.) Run tools/search.py's ``main`` in
    this process (:func:`run_in_process`) on each argument list of the JSON ``runs``, with
    files limited to :data:`FILE_SIZE_LIMIT` bytes (:func:`limit_file_size`), and print the
    [exit status, stdout, stderr] of each as JSON on a line of its own; then run the JSON
    argument list ``command`` as the command line runs it, the tool as ``__main__``, which
    ends the process."""
    limit_file_size(FILE_SIZE_LIMIT)
    tool = load_script(TOOL, 'search_tool')
    results = [recorded_run(tool, argv) for argv in json.loads(runs)]
    print('\n' + json.dumps(results), flush=True)
    sys.argv = [str(TOOL), *json.loads(command)]
    runpy.run_path(str(TOOL), run_name='__main__')


def recorded_run(tool: ModuleType, argv: list[str]) -> list:
    """[exit status, stdout, stderr] of ``tool.main(argv)`` run in this process as the
    command line runs it (:func:`run_in_process`); a run that ends in a traceback gives
    status 1 and the traceback, as the command line would."""
    try:
        result = run_in_process(tool, *argv)
    except Exception:
        return [1, '', traceback.format_exc()]
    return [result.returncode, result.stdout, result.stderr]


class FreshInterpreter(NamedTuple):
    """The child process of :func:`fresh_interpreter`, the [exit status, stdout, stderr] of
    its runs under the file-size limit, the folder they write in and its earlier cache."""

    process: subprocess.CompletedProcess
    runs: list[list]
    folder: Path
    earlier_cache: bytes


@pytest.fixture(scope='module')
def fresh_interpreter(market, checkpoints, tmp_path_factory) -> FreshInterpreter:
    """One fresh interpreter (its start-up takes seconds) for the claims about one: three
    searches past a file-size limit (:func:`searches_in_a_fresh_interpreter`): the cache
    ``cache.pth``, which holds another model's embeddings, with the lists printed; every
    query's whole list to ``all``; one query's first result to ``one``; then the command line
    of a search of a gallery that does not exist."""
    folder = tmp_path_factory.mktemp('fresh')
    cache = folder / 'cache.pth'
    gallery_cache.write_cache(str(cache), 'another model', ['a.jpg'], [FileStamp(1, 2, 3, 4)],
                              torch.ones(1, 4))
    query = sorted((market / 'query').glob('*.jpg'))[0]
    common = [str(CONFIG), str(checkpoints[0]), '--gallery', str(market / 'bounding_box_test')]
    runs = [[*common, '--query', str(query), '--cache', str(cache), '--topk', '2'],
            [*common, '--query', str(market / 'query'), '--out', str(folder / 'all'),
             '--topk', '100'],
            [*common, '--query', str(query), '--out', str(folder / 'one'), '--topk', '1']]
    command = [str(CONFIG), str(checkpoints[0]), '--gallery', str(folder / 'missing'),
               '--query', str(market / 'query')]
    code = (f'import test_search_tool as t; '
            f't.searches_in_a_fresh_interpreter({json.dumps(runs)!r}, {json.dumps(command)!r})')
    earlier_cache = cache.read_bytes()
    process = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, 'PYTHONPATH': f'{Path(__file__).parent}{os.pathsep}{ROOT / "tests"}'})
    lines = process.stdout.splitlines()
    assert lines, process.stderr[-3000:]
    return FreshInterpreter(process, json.loads(lines[-1]), folder, earlier_cache)


def lines_but_bars(stderr: str) -> list[str]:
    """The lines of a search's ``stderr`` that are no progress bar."""
    return [line for line in stderr.split('\n') if line and 'elapsed: ' not in line]


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_writes_past_a_file_size_limit_are_named_and_leave_no_partial_file(fresh_interpreter,
                                                                           market):
    """A full disk, as a file-size limit makes one: a gallery cache that cannot be written is
    told in one line and the search goes on, leaving an earlier cache as it was; a
    results.json or ranked-list PNG that cannot be written stops the search in one sentence.
    None of them leaves a partial or temporary file."""
    printed, every_list, one_list = fresh_interpreter.runs
    folder = fresh_interpreter.folder
    cache = folder / 'cache.pth'
    query = sorted((market / 'query').glob('*.jpg'))[0]

    def warning(cache: Path) -> str:
        return (f'warning: cannot write the gallery cache {cache} (File too large); the search '
                f'goes on, but its gallery embeddings are not kept for the next search')

    assert printed[0] == 0, printed[2]
    assert lines_but_bars(printed[2]) == [warning(cache)]
    assert '  #2 ' in printed[1] and printed[1].splitlines()[-3] == str(query)
    assert cache.read_bytes() == fresh_interpreter.earlier_cache

    def stop(path: Path) -> str:
        return (f'cannot write {path} (File too large), so the search results are incomplete: '
                f'free space on that disk or raise the file-size limit (ulimit -f), and run '
                f'the search again')

    assert every_list[0] == 1
    assert lines_but_bars(every_list[2]) == [warning(folder / 'all/gallery_cache.pth'),
                                             stop(folder / 'all/results.json')]
    assert not (folder / 'all').exists()  # made by the search, and left empty: removed
    png = folder / 'one' / f'{query.stem}.png'
    assert one_list[0] == 1 and lines_but_bars(one_list[2])[-1] == stop(png)
    assert os.listdir(folder / 'one') == ['results.json']
    entry, = json.loads((folder / 'one/results.json').read_text())['queries']
    assert entry['png'] == str(png) and len(entry['gallery']) == 1
    assert sorted(os.listdir(folder)) == ['cache.pth', 'one']


def test_a_gallery_file_replaced_with_its_mtime_restored_is_embedded_again(
        search, market, checkpoints, tmp_path):
    """BMP files of one image size have one byte size: one copied over another (``cp``),
    its modification time restored (``touch -r``, ``rsync -a``), is no longer the file
    embedded."""
    gallery_folder = tmp_path / 'bmp'
    gallery_folder.mkdir()
    for image in sorted((market / 'bounding_box_test').glob('0*.jpg'))[:4]:
        mmcv.imwrite(mmcv.imread(str(image)), str(gallery_folder / f'{image.stem}.bmp'))
    bmps = sorted(gallery_folder.glob('*.bmp'))
    assert len({bmp.stat().st_size for bmp in bmps}) == 1
    cache = tmp_path / 'cache.pth'
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query',
            sorted((market / 'query').glob('*.jpg'))[0], '--cache', cache, '--topk', 1)
    assert search(*args)['embedded'] == 4
    replaced, copied = bmps[0], bmps[1]
    before = replaced.stat()
    shutil.copyfile(copied, replaced)
    os.utime(replaced, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (replaced.stat().st_size, replaced.stat().st_mtime_ns) == (before.st_size,
                                                                      before.st_mtime_ns)
    again = search(*args)
    assert (again['embedded_files'], again['from_cache']) == ([str(replaced)], 3)
    rows = torch.load(cache, weights_only=True)
    features = dict(zip(rows['paths'], rows['features']))
    torch.testing.assert_close(features[str(replaced)], features[str(copied)], rtol=1e-5,
                               atol=1e-5)  # the same pixels


def test_a_reused_out_folder_keeps_only_the_pngs_of_the_last_search(
        search, market, checkpoints, tmp_path):
    """The PNGs that the earlier results.json lists are removed; another PNG is not."""
    queries = sorted((market / 'query').glob('*.jpg'))[:3]
    out = tmp_path / 'out'
    common = (CONFIG, checkpoints[0], '--gallery', market / 'bounding_box_test', '--out', out,
              '--topk', 2)
    search(*common, '--query', *queries)
    assert sorted(out.glob('*.png')) == sorted(out / f'{query.stem}.png' for query in queries)
    (out / 'notes.png').write_bytes(b'not written by the search')
    search(*common, '--query', queries[2])
    assert sorted(os.listdir(out)) == sorted(['gallery_cache.pth', 'notes.png', 'results.json',
                                              f'{queries[2].stem}.png'])
    search(*common, '--query', queries[0], '--draw-topk', 0)
    assert sorted(os.listdir(out)) == ['gallery_cache.pth', 'notes.png', 'results.json']


def test_only_regular_files_that_are_no_input_are_removed_as_earlier_pngs(tool, tmp_path):
    """Of the PNGs an earlier results.json lists: a link, a folder, a query or gallery file
    and a file of another folder stay."""
    out = tmp_path / 'out'
    out.mkdir()
    for name in ('drawn.png', 'input.png'):
        (out / name).write_bytes(b'png')
    (out / 'linked.png').symlink_to(out / 'input.png')
    (out / 'folder.png').mkdir()
    elsewhere = tmp_path / 'elsewhere.png'
    elsewhere.write_bytes(b'png')
    listed = [out / 'drawn.png', out / 'input.png', out / 'linked.png', out / 'folder.png',
              elsewhere, out / 'gone.png']
    (out / 'results.json').write_text(json.dumps(
        dict(queries=[dict(query='q.jpg', png=str(png)) for png in listed])))
    tool.remove_earlier_pngs(out, [os.stat(out / 'input.png')])
    assert sorted(os.listdir(out)) == ['folder.png', 'input.png', 'linked.png', 'results.json']
    assert elsewhere.exists()


def test_links_that_lead_nowhere_are_named_for_each_folder(search, market, tmp_path, capsys):
    """A gallery or query folder linked in part from an unmounted drive: its images are not
    searched, and one line per folder says how many links lead nowhere."""
    gallery_folder = tmp_path / 'gallery'
    _gallery_copy(market, gallery_folder)
    add_links_that_lead_nowhere(gallery_folder)
    query_folder = tmp_path / 'query'
    shutil.copytree(market / 'query', query_folder)
    (query_folder / '0001_c1s1_000001_00.jpg').symlink_to('/unmounted/drive/0001.jpg')
    with pytest.raises(SystemExit):  # after the listing: the model cannot be loaded
        search(CONFIG, tmp_path / 'no_checkpoint.pth', '--gallery', gallery_folder, '--query',
               query_folder)
    printed = capsys.readouterr().out.splitlines()
    rest = 'mount or restore what they point to (an unmounted drive?), or remove them'
    assert printed == [
        f'{gallery_folder}: 3 link(s) that lead nowhere not read (the first: '
        f'{gallery_folder / "dangling.jpg"} → nowhere.jpg); {rest}',
        f'{query_folder}: 1 link(s) that lead nowhere not read (the first: '
        f'{query_folder / "0001_c1s1_000001_00.jpg"} → /unmounted/drive/0001.jpg); {rest}']


def _small_gallery(market: Path, folder: Path) -> Path:
    """5 gallery images in ``folder`` under names that are no Market-1501 names (the
    protocol off: every one is listed)."""
    folder.mkdir()
    for number, image in enumerate(sorted((market / 'bounding_box_test').glob('0*.jpg'))[:5]):
        shutil.copy(image, folder / f'person_{number}.jpg')
    return folder


def test_a_gallery_smaller_than_the_default_topk_is_listed_whole_without_a_notice(
        search, market, checkpoints, tmp_path, capsys):
    gallery_folder = _small_gallery(market, tmp_path / 'gallery')
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query',
            sorted((market / 'query').glob('*.jpg'))[0], '--cache', tmp_path / 'cache.pth')
    assert search(*args)['topk'] == 5
    printed = capsys.readouterr().out
    assert '--topk' not in printed and printed.count('  #') == 5
    assert search(*args, '--topk', 10)['topk'] == 5
    assert ('--topk 10 is more than the 5 gallery images: listing all of them (less those '
            'left out for each query)') in capsys.readouterr().out.splitlines()


def test_no_flip_turns_off_the_flip_of_the_config(search, tool, market, checkpoints,
                                                  tmp_path):
    """--flip and --no-flip decide; neither: the config's model.test_cfg.flip."""
    assert [tool.parse_args(['c.py', 'm.pth', '--gallery', 'g', '--query', 'q', *flag]).flip
            for flag in ([], ['--flip'], ['--no-flip'])] == [None, True, False]
    gallery_folder = _small_gallery(market, tmp_path / 'gallery')
    args = (CONFIG, checkpoints[0], '--gallery', gallery_folder, '--query',
            sorted((market / 'query').glob('*.jpg'))[0], '--draw-topk', 0,
            '--cfg-options', 'model.test_cfg.flip=True')
    flips = []
    for flag in ([], ['--no-flip'], ['--flip']):
        out = tmp_path / f'out{len(flips)}'
        search(*args, '--out', out, *flag)
        flips.append(json.loads((out / 'results.json').read_text())['flip'])
    assert flips == [True, False, True]


def _market_named(market: Path, folder: Path, names: list[str]) -> list[Path]:
    """Copies of the first test images under the Market-1501 ``names``, in ``folder``."""
    folder.mkdir()
    images = sorted((market / 'bounding_box_test').glob('0*.jpg'))
    copies = [folder / name for name in names]
    for image, copy in zip(images, copies):
        shutil.copy(image, copy)
    return copies


def test_protocol_off_keeps_the_same_camera_matches_and_the_junk(search, market, checkpoints,
                                                                 tmp_path, capsys):
    """Data of one's own under Market-1501 names: --protocol auto (the default) leaves out
    junk and the query's identity from its camera, off lists every gallery image."""
    query, = _market_named(market, tmp_path / 'query', ['0007_c1s1_000001_00.jpg'])
    same_camera, other_camera, other_id, junk = _market_named(
        market, tmp_path / 'gallery', ['0007_c1s1_000002_00.jpg', '0007_c2s1_000003_00.jpg',
                                       '0008_c1s1_000004_00.jpg', '-1_c1s1_000005_00.jpg'])
    listed = {}
    for protocol in ('auto', 'off'):
        out = tmp_path / protocol
        search(CONFIG, checkpoints[1], '--gallery', tmp_path / 'gallery', '--query', query,
               '--out', out, '--draw-topk', 0, *(['--protocol', 'off'] if protocol == 'off'
                                                 else []))
        report = json.loads((out / 'results.json').read_text())
        entry, = report['queries']
        assert report['protocol'] == protocol
        assert report['evaluation_protocol'] is (protocol == 'auto')
        assert ('matches' in entry) is (protocol == 'auto')
        listed[protocol] = sorted(entry['gallery'])
    assert listed == {'auto': sorted([str(other_camera), str(other_id)]),
                      'off': sorted(map(str, [same_camera, other_camera, other_id, junk]))}
    assert ('evaluation protocol off (--protocol off): junk images are kept, images of the '
            'query\'s identity from its camera are not left out and the ranked lists get no '
            'green or red frames') in capsys.readouterr().out.splitlines()


def test_a_query_with_no_result_left_says_why(search, market, checkpoints, tmp_path, capsys):
    """An empty ranked list is printed as one line saying why, not as the query's path
    alone: the protocol left out every gallery image, or the gallery is the query's file."""
    query, = _market_named(market, tmp_path / 'query', ['0007_c1s1_000001_00.jpg'])
    _market_named(market, tmp_path / 'gallery', ['0007_c1s1_000002_00.jpg'])
    search(CONFIG, checkpoints[1], '--gallery', tmp_path / 'gallery', '--query', query)
    assert capsys.readouterr().out.splitlines()[-2:] == [
        str(query),
        '  no results (every gallery image is the query\'s own file or an image of its '
        'identity from its camera, which the evaluation protocol leaves out; --protocol off '
        'keeps them)']
    search(CONFIG, checkpoints[1], '--gallery', query, '--query', query, '--protocol', 'off')
    assert capsys.readouterr().out.splitlines()[-2:] == [
        str(query), '  no results (the only gallery image is the query\'s own file, which is '
                    'left out of its list)']


def test_progress_bars_go_to_stderr_and_the_results_to_stdout(market, checkpoints, tmp_path):
    """``search.py ... > results.txt`` holds lines only: the progress bars (redrawn after
    ``\\r``) of the embedding and the drawing go to stderr, one bar each for the gallery and
    the ranked list (a single query image draws none), and the line naming what was written
    ends stdout."""
    gallery_folder = _small_gallery(market, tmp_path / 'gallery')
    query = sorted((market / 'query').glob('*.jpg'))[0]
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, str(TOOL), str(CONFIG), str(checkpoints[1]), '--gallery',
         str(gallery_folder), '--query', str(query), '--out', str(out), '--draw-topk', '2'],
        cwd=ROOT, capture_output=True, timeout=300)  # bytes: text=True would turn \r into \n
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stderr[-3000:]
    assert '\r' not in stdout and 'elapsed' not in stdout
    bars = [line.split('\r') for line in stderr.split('\n') if 'elapsed' in line]
    assert [[bar[0].split(',')[0][-3:], bar[-1].split(',')[0][-3:]] for bar in bars] == [
        ['0/5', '5/5'], ['0/1', '1/1']]
    assert stdout.splitlines()[-1] == (f'1 ranked lists and {out / "results.json"} written to '
                                       f'{out}')


def _escaped(path: Path) -> str:
    """``path`` as a search prints it where its name is no UTF-8: the surrogate escape of
    each such byte written as ``\\udcXX``."""
    return str(path).encode('utf-8', 'backslashreplace').decode()


@pytest.mark.skipif(sys.platform != 'linux', reason='file names that are no UTF-8')
def test_file_names_that_are_no_utf8_are_printed_escaped_and_kept_in_results_json(
        search, market, checkpoints, tmp_path):
    """A Latin-1 name (``caf\\xe9.jpg``), which Python gives as a surrogate escape, is
    printed as ``caf\\udce9.jpg`` on a strict UTF-8 stdout instead of stopping the search
    with UnicodeEncodeError; results.json escapes it as JSON does, and reads back as the
    path."""
    gallery_folder = _small_gallery(market, tmp_path / 'gallery')
    query = tmp_path / 'query' / os.fsdecode(b'caf\xe9.jpg')
    query.parent.mkdir()
    shutil.copy(sorted((market / 'query').glob('*.jpg'))[0], query)
    latin = Path(shutil.copy(query, gallery_folder / os.fsdecode(b'caf\xe9_2.jpg')))
    result = subprocess.run(
        [sys.executable, str(TOOL), str(CONFIG), str(checkpoints[1]), '--gallery',
         str(gallery_folder), '--query', str(query), '--topk', '6'],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, 'PYTHONIOENCODING': 'utf-8:strict'})
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout.splitlines()
    assert f'(any image suffix; the first: {_escaped(latin)})' in result.stdout
    assert printed[-7] == _escaped(query)
    assert any(line.endswith(f' {_escaped(latin)}') for line in printed[-6:])

    out = tmp_path / 'out'
    search(CONFIG, checkpoints[1], '--gallery', gallery_folder, '--query', query, '--out', out,
           '--draw-topk', 1)
    text = (out / 'results.json').read_text(encoding='ascii')
    entry, = json.loads(text)['queries']
    assert entry['query'] == str(query) and str(latin) in entry['gallery']
    assert entry['png'] == str(out / os.fsdecode(b'caf\xe9.png')) and Path(entry['png']).is_file()
