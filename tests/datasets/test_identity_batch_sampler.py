"""P × K identity batches (paper §4.1: 16 identities × 4 images), also across ranks."""
from collections import Counter
from unittest import mock

import pytest
from mmengine.dataset import BaseDataset, DefaultSampler
from mmengine.hooks import DistSamplerSeedHook
from mmengine.runner import Runner

from rga_mm.datasets import IdentityBatchSampler

# identity → number of images; identity 6 has fewer images than K = 4
IMAGES_PER_IDENTITY = {0: 5, 1: 4, 2: 7, 3: 4, 4: 6, 5: 4, 6: 2, 7: 9, 8: 4, 9: 5}


class Identities(BaseDataset):
    """A dataset of bare identities (no images), interleaved as files on disk would be."""

    def load_data_list(self):
        labels = [label for label, count in IMAGES_PER_IDENTITY.items()
                  for _ in range(count)]
        return [dict(gt_label=label) for label in sorted(labels, key=lambda x: (x * 7) % 10)]


def build(batch_size=8, num_instances=4, rank=0, world_size=1, seed=0):
    with mock.patch('mmengine.dataset.sampler.get_dist_info',
                    return_value=(rank, world_size)):
        sampler = DefaultSampler(Identities(), shuffle=True, seed=seed)
    return IdentityBatchSampler(sampler, batch_size=batch_size, num_instances=num_instances)


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
def test_ranks_get_disjoint_complete_batches_of_one_shared_plan(world_size):
    per_rank = [list(build(batch_size=4, num_instances=2, rank=rank, world_size=world_size,
                           seed=7))
                for rank in range(world_size)]
    plan = build(batch_size=4, num_instances=2, seed=7).epoch_plan(0)  # P = 2: 5 batches
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
                                         r'16 × 4, but the dataset has 10'):
        build(batch_size=64, num_instances=4)


def test_fewer_batches_than_ranks_is_an_error():
    with pytest.raises(ValueError, match='10 identities give 2 batches of 4 identities, '
                                         'fewer than the 3 ranks'):
        build(batch_size=16, num_instances=4, world_size=3)


def test_batch_size_must_be_a_multiple_of_k():
    with pytest.raises(ValueError, match='batch_size 10 must be a multiple of '
                                         'num_instances 4'):
        build(batch_size=10, num_instances=4)


def test_built_from_a_dataloader_config_and_epoch_set_by_the_hook():
    """mmengine builds DefaultSampler, then the batch sampler around it; the
    DistSamplerSeedHook reaches the epoch through ``batch_sampler.sampler``."""
    loader = Runner.build_dataloader(dict(
        batch_size=8, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='rga_mm.IdentityBatchSampler', num_instances=4),
        collate_fn=dict(type='pseudo_collate'),
        dataset=Identities()), seed=3)
    assert isinstance(loader.batch_sampler, IdentityBatchSampler)
    epoch0 = [batch['gt_label'] for batch in loader]
    assert len(epoch0) == 5 and all(len(labels) == 8 for labels in epoch0)
    assert all(sorted(Counter(labels).values()) == [4, 4] for labels in epoch0)

    runner = mock.Mock(epoch=1)
    runner.train_loop.dataloader = loader
    DistSamplerSeedHook().before_train_epoch(runner)
    assert [batch['gt_label'] for batch in loader] != epoch0
