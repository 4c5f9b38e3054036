"""P × K identity batches for metric learning (the official RGA ``RandomIdentitySampler``)."""
from collections.abc import Iterator

import numpy as np
from torch.utils.data import BatchSampler, Sampler

from rga_mm.checks import is_int
from rga_mm.datasets.augmentation_seed import SampleIndex
from rga_mm.errors import ConfigError
from rga_mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class IdentityBatchSampler(BatchSampler):
    """Batches of P identities × K images each (paper §4.1: 16 × 4 = 64).

    Each epoch visits every identity of the dataset once, in a random order; an identity
    gives K of its images, drawn without replacement, or with replacement when it has fewer
    than K. Consecutive groups of P identities form the batches (a last incomplete group is
    dropped, like the official ``drop_last=True``), so an epoch has
    ``num_identities // P`` batches, dealt out to the ranks in turn: every rank gets
    ``num_identities // P // world_size`` complete, disjoint batches (the remainder is
    dropped). The plan depends only on the seed and the epoch, so all ranks agree on it.

    The indices are :class:`~rga_mm.datasets.augmentation_seed.SampleIndex` items, which
    also carry the seed, the epoch and the draw (position in the epoch's plan), so that
    :class:`~rga_mm.datasets.ReIDDataset` draws every image's augmentations from
    (seed, epoch, draw) alone: the same for any number of workers or ranks and after a
    resume. Two draws of one image in a batch (an identity with fewer than K images) are
    two different draws.

    Used as mmengine's ``batch_sampler`` on top of its ``DefaultSampler``, from which it
    takes the dataset, the seed (shared by all ranks), the epoch (set by
    ``DistSamplerSeedHook``) and rank / world size; the DefaultSampler's own order is not
    used, since identity batches need the whole epoch's plan::

        train_dataloader = dict(
            batch_size=64,  # P × K
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(type='rga_mm.IdentityBatchSampler', num_instances=4),
            dataset=...)

    Args:
        sampler: mmengine's ``DefaultSampler`` (or any sampler with ``dataset``, ``seed``,
            ``epoch``, ``rank`` and ``world_size``); its dataset's ``get_data_info(i)``
            must hold the identity in ``gt_label``.
        batch_size: P × K.
        num_instances: K, the images per identity.
    """

    def __init__(self, sampler: Sampler, batch_size: int, num_instances: int = 4) -> None:
        missing = [name for name in ('dataset', 'seed', 'epoch', 'rank', 'world_size')
                   if not hasattr(sampler, name)]
        if missing:
            raise TypeError(f'IdentityBatchSampler needs a sampler with {missing} '
                            f'(mmengine DefaultSampler), got {type(sampler).__name__}')
        check_batch_counts_positive(num_instances, batch_size)
        num_instances, batch_size = int(num_instances), int(batch_size)
        if batch_size % num_instances:
            raise ConfigError(f'batch_size {batch_size} must be a multiple of num_instances '
                              f'{num_instances}: set train_dataloader.batch_size to P × '
                              f'{num_instances} (P identities of {num_instances} images each), '
                              f'e.g. {num_instances * max(1, batch_size // num_instances)}')
        self.sampler = sampler
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_identities_per_batch = batch_size // num_instances
        self.drop_last = True

        dataset = sampler.dataset
        labels = np.array([dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])
        identities, groups = np.unique(labels, return_inverse=True)
        self.indices_of_identity = np.split(np.argsort(groups, kind='stable'),
                                            np.cumsum(np.bincount(groups))[:-1])
        if len(identities) < 2:
            raise ConfigError(
                f'IdentityBatchSampler needs training data of at least 2 identities (a re-ID '
                f'model learns to tell identities apart), but the dataset has '
                f'{len(identities)}: add the images of another identity to it')
        num_batches = len(identities) // self.num_identities_per_batch
        if num_batches == 0:
            raise ConfigError(
                f'IdentityBatchSampler needs at least P = {self.num_identities_per_batch} '
                f'identities for batches of {self.num_identities_per_batch} × '
                f'{num_instances}, but the dataset has {len(identities)}: set '
                f'train_dataloader.batch_size to at most {len(identities) * num_instances} '
                f'({len(identities)} × {num_instances})')
        if num_batches < sampler.world_size:
            fix = _fewer_batches_fix(len(identities), sampler.world_size,
                                     self.num_identities_per_batch, num_instances)
            raise ConfigError(
                f'{len(identities)} identities give {num_batches} '
                f'batch{"es" if num_batches > 1 else ""} of {self.num_identities_per_batch} '
                f'identities, fewer than the {sampler.world_size} ranks: {fix}')
        self.num_batches_per_rank = num_batches // sampler.world_size

    def epoch_plan(self, epoch: int) -> list[list[int]]:
        """All batches of ``epoch``, for all ranks (rank r takes batches r, r + world, ...)."""
        rng = np.random.default_rng([self.sampler.seed, epoch])
        indices = []
        for identity in rng.permutation(len(self.indices_of_identity)):
            own = self.indices_of_identity[identity]
            indices.append(rng.choice(own, self.num_instances,
                                      replace=len(own) < self.num_instances))
        size = self.num_identities_per_batch
        return [np.concatenate(indices[start:start + size]).tolist()
                for start in range(0, len(indices) - size + 1, size)]

    def __iter__(self) -> Iterator[list[SampleIndex]]:
        seed, epoch = self.sampler.seed, self.sampler.epoch
        plan = self.epoch_plan(epoch)
        world_size, rank = self.sampler.world_size, self.sampler.rank
        for number in range(rank, self.num_batches_per_rank * world_size, world_size):
            yield [SampleIndex(index, seed, epoch, draw=number * self.batch_size + slot)
                   for slot, index in enumerate(plan[number])]

    def __len__(self) -> int:
        return self.num_batches_per_rank

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the wrapped sampler, which holds the epoch."""
        self.sampler.set_epoch(epoch)


def check_batch_counts_positive(num_instances: int, batch_size: int) -> None:
    """Refuse a K (``num_instances``) or a P × K (``batch_size``) that is not an integer
    (``4.0`` passes the divisibility test, then breaks the DataLoader's length; a bool is
    no count) or is below 1, which would leave no image to draw (and divide by zero further
    on).

    Raises:
        ConfigError: one sentence naming the setting and a value to set.
    """
    if not is_int(num_instances):
        raise ConfigError(f'train_dataloader.batch_sampler.num_instances is '
                          f'{num_instances!r}, but IdentityBatchSampler counts the images '
                          f'per identity in whole numbers: set it to an int, e.g. 4')
    if not is_int(batch_size):
        raise ConfigError(f'train_dataloader.batch_size is {batch_size!r}, but '
                          f'IdentityBatchSampler counts the images per batch in whole '
                          f'numbers: set it to an int, P × {num_instances} (P identities of '
                          f'{num_instances} images each), e.g. {4 * max(1, num_instances)}')
    if num_instances < 1:
        raise ConfigError(f'train_dataloader.batch_sampler.num_instances is {num_instances}, '
                          f'but an identity needs at least 1 image per batch: set it to a '
                          f'positive number of images per identity, e.g. 4')
    if batch_size < 1:
        raise ConfigError(f'train_dataloader.batch_size is {batch_size}, but a batch needs at '
                          f'least one identity: set it to P × {num_instances} (P identities '
                          f'of {num_instances} images each), e.g. {4 * num_instances}')


def _fewer_batches_fix(num_identities: int, world_size: int, identities_per_batch: int,
                       num_instances: int) -> str:
    """What gives each of ``world_size`` ranks a batch of ``num_instances`` images per
    identity from ``num_identities`` identities: a smaller train_dataloader.batch_size where
    one of at least 2 identities per batch exists (the batch-hard triplet loss needs 2; 1
    where the config asks for 1), else fewer processes."""
    least = min(identities_per_batch, 2)
    identities_per_rank = num_identities // world_size
    if identities_per_rank < least:
        most = num_identities // least
        return f'run at most {most} process{"es" if most > 1 else ""}'
    return (f'set train_dataloader.batch_size to at most '
            f'{identities_per_rank * num_instances}, or run fewer processes')
