import gc
import os
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from rga_mm.synthetic import generate_synthetic_market


def _share_the_cores() -> None:
    """Give each pytest-xdist worker (tools/misc/run_tests.sh starts one per core) and the
    tools it starts an equal share of the cores: OpenMP threads spinning beside another
    worker's slow every step down many times."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        threads = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)


_share_the_cores()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files that hold slow tests first, each file's tests in their order. pytest-xdist
    (``--dist loadfile --no-loadscope-reorder``, as tools/misc/run_tests.sh runs it) hands
    files to the workers in this order, so the minute-long files start while the other worker
    still has short ones to take, instead of one worker running the last long file alone."""
    slow_files = {item.path for item in items if item.get_closest_marker('slow')}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what the imports and the collection made (torch, the OpenMMLab packages, the
    test modules: about a million objects) from the garbage collector's later passes, as
    ``gc.freeze`` does for a server after start-up. mmengine's datasets call ``gc.collect()``
    each time they are built, and a pass over that heap took about 0.4 s; objects the tests
    create are collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _seed_and_scope():
    """Every test starts from the same random state in the rga_mm registry scope (a Runner
    built by an earlier test leaves its own default scope behind)."""
    torch.manual_seed(0)
    init_default_scope('rga_mm')
    yield


@pytest.fixture(scope='session')
def tiny_market(tmp_path_factory) -> Path:
    """A tiny synthetic Market-1501 (the demo's generator): 8 train ids, 6 test ids,
    3 cameras. Shared by the end-to-end tests, which must not write into it."""
    return generate_synthetic_market(
        str(tmp_path_factory.mktemp('synthetic')), num_train_ids=8, num_test_ids=6,
        num_cameras=3, cameras_per_id=(2, 3), images_per_camera=(2, 3),
        query_cameras_per_id=(1, 2), num_distractors=4, num_junk=2, seed=3)
