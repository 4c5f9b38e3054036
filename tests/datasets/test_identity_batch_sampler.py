"""P × K identity batches (paper §4.1: 16 identities × 4 images), also across ranks.

The ranks are real: processes forked from this one join a gloo process group of the world
size a test needs, and each builds the sampler there (mmengine's ``DefaultSampler`` takes
its rank and world size from the group). One group per world size computes every case that
world size needs.
"""
import multiprocessing
import queue
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.dataset import BaseDataset, DefaultSampler
from mmengine.model import BaseModel
from mmengine.runner import Runner

from rga_mm.datasets import IdentityBatchSampler

# identity → number of images; identity 6 has fewer images than K = 4
IMAGES_PER_IDENTITY = {0: 5, 1: 4, 2: 7, 3: 4, 4: 6, 5: 4, 6: 2, 7: 9, 8: 4, 9: 5}
# what every rank builds in the process groups: name → build()'s arguments
ON_RANKS = {'plan': dict(batch_size=4, num_instances=2, seed=7),  # P = 2: 5 batches
            'too few batches': dict(batch_size=16, num_instances=4),  # 2 batches
            'three identities': dict(batch_size=8, num_instances=4, num_identities=3)}
GROUP_TIMEOUT_S = 60


class Identities(BaseDataset):
    """A dataset of bare identities (no images), interleaved as files on disk would be;
    not serialized (mmengine's serialization runs a full garbage collection, 0.3 s here).
    ``num_identities`` keeps the first of ``IMAGES_PER_IDENTITY``."""

    def __init__(self, num_identities=len(IMAGES_PER_IDENTITY)):
        self.num_identities = num_identities
        super().__init__(serialize_data=False)

    def load_data_list(self):
        labels = [label for label, count in IMAGES_PER_IDENTITY.items()
                  for _ in range(count) if label < self.num_identities]
        return [dict(gt_label=label) for label in sorted(labels, key=lambda x: (x * 7) % 10)]


def build(batch_size=8, num_instances=4, seed=0, num_identities=len(IMAGES_PER_IDENTITY)):
    """The sampler as this process's rank in its process group (if any) builds it."""
    sampler = DefaultSampler(Identities(num_identities), shuffle=True, seed=seed)
    return IdentityBatchSampler(sampler, batch_size=batch_size, num_instances=num_instances)


def _rank(rank: int, world_size: int, store: str, results) -> None:
    """One rank: join the gloo group, build every ``ON_RANKS`` case and put, for this rank,
    case → its batches (plain ints) or the error that building raised."""
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world_size)
    try:
        built = {}
        for name, kwargs in ON_RANKS.items():
            try:
                sampler = build(**kwargs)
                assert (sampler.sampler.rank, sampler.sampler.world_size) == (rank, world_size)
                built[name] = [[int(index) for index in batch] for batch in sampler]
            except ValueError as error:
                built[name] = error
        results.put((rank, built))
    finally:
        dist.destroy_process_group()


def on_ranks(world_size: int, folder: Path) -> list[dict]:
    """Per rank of a real ``world_size``-process gloo group: case → batches or error."""
    # spawned, not forked: a pytest-xdist worker runs execnet's threads, and a fork may copy
    # a lock one of them holds into a rank that then waits on it for ever
    context = multiprocessing.get_context('spawn')
    results = context.Queue()
    processes = [context.Process(target=_rank, args=(rank, world_size, folder / 'store',
                                                     results))
                 for rank in range(world_size)]
    for process in processes:
        process.start()
    try:
        per_rank = dict(results.get(timeout=GROUP_TIMEOUT_S) for _ in processes)
    except queue.Empty:
        pytest.fail(f'the {world_size} ranks gave no result in {GROUP_TIMEOUT_S} s')
    finally:
        for process in processes:
            process.join(timeout=GROUP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * world_size
    return [per_rank[rank] for rank in range(world_size)]


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    """world size → :func:`on_ranks`' result, one process group per world size."""
    groups = {}

    def of(world_size: int) -> list[dict]:
        if world_size not in groups:
            groups[world_size] = on_ranks(world_size, tmp_path_factory.mktemp('group'))
        return groups[world_size]
    return of


def outcome(built: dict, name: str) -> list[list[int]]:
    """A rank's batches of case ``name``, or the error that building it raised."""
    if isinstance(built[name], BaseException):
        raise built[name]
    return built[name]


def labels_of(batch, dataset):
    return [dataset.get_data_info(i)['gt_label'] for i in batch]


def test_batches_hold_p_identities_times_k_images():
    sampler = build(batch_size=8, num_instances=4)  # P = 2
    dataset = sampler.sampler.dataset
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10 // 2
    seen = []
    for batch in batches:
        counts = Counter(labels_of(batch, dataset))
        assert len(batch) == 8 and len(counts) == 2 and set(counts.values()) == {4}
        seen += counts
    assert sorted(seen) == list(range(10))  # every identity once per epoch


def test_k_drawn_without_replacement_unless_too_few_images():
    sampler = build(batch_size=8, num_instances=4)
    dataset = sampler.sampler.dataset
    for epoch in range(5):
        for batch in sampler.epoch_plan(epoch):
            for label in set(labels_of(batch, dataset)):
                own = [i for i in batch if dataset.get_data_info(i)['gt_label'] == label]
                if IMAGES_PER_IDENTITY[label] >= 4:
                    assert len(set(own)) == 4
                else:  # identity 6 has 2 images: 4 draws repeat some
                    assert len(own) == 4 and len(set(own)) <= 2


def test_epoch_and_seed_change_the_plan_deterministically():
    sampler = build(seed=0)
    first = list(sampler)
    assert list(build(seed=0)) == first
    sampler.set_epoch(1)
    assert sampler.sampler.epoch == 1
    assert list(sampler) != first
    assert list(build(seed=1)) != first


@pytest.mark.parametrize('world_size', [2, 3])
def test_ranks_get_disjoint_complete_batches_of_one_shared_plan(world_size, ranks):
    per_rank = [outcome(built, 'plan') for built in ranks(world_size)]
    plan = build(**ON_RANKS['plan']).epoch_plan(0)  # P = 2: 5 batches
    assert all(len(batches) == 5 // world_size for batches in per_rank)
    for rank, batches in enumerate(per_rank):
        assert batches == plan[rank:5 // world_size * world_size:world_size]
        assert all(len(batch) == 4 for batch in batches)
    dataset = Identities()
    identities = [label for batches in per_rank for batch in batches
                  for label in set(labels_of(batch, dataset))]
    assert len(identities) == len(set(identities))  # no identity on two ranks


def test_fewer_identities_than_p_is_an_error():
    with pytest.raises(ValueError, match=r'at least P = 16 identities for batches of '
                                         r'16 × 4, but the dataset has 10: set '
                                         r'train_dataloader.batch_size to at most 40 '
                                         r'\(10 × 4\)$'):
        build(batch_size=64, num_instances=4)


def test_a_dataset_of_one_identity_is_refused_at_any_batch_size():
    """With one identity no batch size helps (a batch of one identity has no negative for
    the triplet loss), so the fix is more data, not the batch size."""
    class OneIdentity(Identities):
        def load_data_list(self):
            return [dict(gt_label=7)] * 8

    sampler = DefaultSampler(OneIdentity(), shuffle=True)
    for batch_size in (4, 8):
        with pytest.raises(ValueError, match=r'^IdentityBatchSampler needs training data of '
                                             r'at least 2 identities \(a re-ID model learns '
                                             r'to tell identities apart\), but the dataset '
                                             r'has 1: add the images of another identity '
                                             r'to it$'):
            IdentityBatchSampler(sampler, batch_size=batch_size, num_instances=4)


def test_fewer_batches_than_ranks_is_an_error(ranks):
    for built in ranks(3):
        with pytest.raises(ValueError, match='10 identities give 2 batches of 4 identities, '
                                             'fewer than the 3 ranks: set '
                                             'train_dataloader.batch_size to at most 12, or '
                                             'run fewer processes$'):
            outcome(built, 'too few batches')


def test_fewer_identities_than_two_per_rank_ask_for_fewer_processes(ranks):
    """A batch size of one identity per rank would be refused by the triplet loss's check,
    which needs 2 identities per batch: the fix is fewer processes."""
    for built in ranks(2):
        with pytest.raises(ValueError, match='^3 identities give 1 batch of 2 identities, '
                                             'fewer than the 2 ranks: run at most 1 process$'):
            outcome(built, 'three identities')


def test_batch_size_must_be_a_multiple_of_k():
    with pytest.raises(ValueError, match='^batch_size 10 must be a multiple of '
                                         'num_instances 4: set train_dataloader.batch_size '
                                         'to P × 4 \\(P identities of 4 images each\\), '
                                         'e.g. 8$'):
        build(batch_size=10, num_instances=4)
    with pytest.raises(ValueError, match=r'to P × 4 .*, e\.g\. 4$'):
        build(batch_size=2, num_instances=4)


def test_no_images_per_identity_or_no_batch_is_an_error():
    """K or P × K below 1 is refused in one sentence (it used to divide by zero)."""
    with pytest.raises(ValueError, match='^train_dataloader.batch_sampler.num_instances is 0, '
                                         'but an identity needs at least 1 image per batch: '
                                         'set it to a positive number of images per '
                                         'identity, e.g. 4$'):
        build(batch_size=4, num_instances=0)
    with pytest.raises(ValueError, match=r'^train_dataloader.batch_size is 0, but a batch '
                                         r'needs at least one identity: set it to P × 4 '
                                         r'\(P identities of 4 images each\), e.g. 16$'):
        build(batch_size=0, num_instances=4)


@pytest.mark.parametrize('num_instances, shown', [(4.0, '4.0'), (True, 'True'),
                                                  ('4', "'4'")])
def test_images_per_identity_that_are_no_int_are_refused(num_instances, shown):
    """4.0 divided 8 and built, then broke the DataLoader's length with a TypeError."""
    message = (f'train_dataloader.batch_sampler.num_instances is {shown}, but '
               f'IdentityBatchSampler counts the images per identity in whole numbers: set '
               f'it to an int, e.g. 4')
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        build(batch_size=8, num_instances=num_instances)


@pytest.mark.parametrize('batch_size, shown', [(8.0, '8.0'), ('8', "'8'")])
def test_a_batch_size_that_is_no_int_is_refused(batch_size, shown):
    message = (f'train_dataloader.batch_size is {shown}, but IdentityBatchSampler counts the '
               f'images per batch in whole numbers: set it to an int, P × 4 (P identities of '
               f'4 images each), e.g. 16')
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        build(batch_size=batch_size, num_instances=4)


def test_numpy_counts_are_taken_as_ints():
    sampler = build(batch_size=np.int64(8), num_instances=np.int64(4))
    assert (type(sampler.batch_size), type(sampler.num_instances)) == (int, int)
    assert len(sampler) == 5 and all(len(batch) == 8 for batch in sampler)


class RecordLabels(BaseModel):
    """A model that records the labels of every batch it trains on."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.batches = []

    def forward(self, gt_label, mode='loss', **other_keys):
        self.batches.append(list(gt_label))
        return dict(loss=self.weight.sum())


def test_built_from_a_dataloader_config_and_epoch_set_by_the_hook(tmp_path):
    """mmengine builds DefaultSampler, then the batch sampler around it; the
    DistSamplerSeedHook reaches the epoch through ``batch_sampler.sampler``: a real Runner
    trains two epochs with it."""
    model = RecordLabels()
    runner = Runner(
        model=model, work_dir=str(tmp_path), experiment_name=f'sampler_{tmp_path.name}',
        train_dataloader=dict(
            batch_size=8, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(type='rga_mm.IdentityBatchSampler', num_instances=4),
            collate_fn=dict(type='pseudo_collate'),
            dataset=Identities()),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(sampler_seed=dict(type='DistSamplerSeedHook'), checkpoint=None),
        randomness=dict(seed=3), log_level='WARNING')
    runner.train()
    loader = runner.train_dataloader
    assert isinstance(loader.batch_sampler, IdentityBatchSampler)
    assert loader.batch_sampler.sampler.epoch == 1
    epoch0, epoch1 = model.batches[:5], model.batches[5:]
    assert len(epoch0) == 5 and all(len(labels) == 8 for labels in epoch0)
    assert all(sorted(Counter(labels).values()) == [4, 4] for labels in epoch0)
    assert epoch1 != epoch0
