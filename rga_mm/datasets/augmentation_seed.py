"""Augmentation randomness that depends on (seed, epoch, draw) only.

mmcv's and mmpretrain's random transforms (``RandomFlip``, ``RandomApply``,
``RandomCrop``) and rga_mm's ``ReIDRandomErasing`` draw from numpy's global generator
(others from python's ``random`` or torch's CPU generator). mmengine seeds those generators
once per data-loader worker (``mmengine.dataset.worker_init_fn``: seed + worker id + rank),
so what an image gets depends on how many workers there are and which of them loads it,
and a resumed run starts the workers from the seed again: its augmentations, and so its
weights, differ from those of the same epochs in an uninterrupted run. Neither mmengine nor
PyTorch seeds per sample, hence this module.

:class:`IdentityBatchSampler` (re-ID) and :class:`DrawSeededSampler` (mmengine's
``DefaultSampler``, for the CIFAR configs) hand out :class:`SampleIndex` items: dataset
indices that also carry the seed, the epoch and the draw (the position in the epoch's
order), and a dataset with :class:`DrawSeededPipeline` (:class:`~rga_mm.datasets.ReIDDataset`,
rga_mm's CIFAR datasets) runs its pipeline inside :func:`augmentation_random_state` of that
key, wherever the item is loaded.
"""
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


class SampleIndex(int):
    """A dataset index that names its draw: ``int(index)`` is the item, ``seed``, ``epoch``
    and ``draw`` (the position in the epoch's sampling plan) key its augmentations.

    An ``int``, so that any dataset indexes with it as with a plain index; it travels to the
    data-loader workers with the index, so a worker needs no epoch of its own (persistent
    workers keep the dataset copy they were started with).
    """

    def __new__(cls, index: int, seed: int, epoch: int, draw: int) -> 'SampleIndex':
        item = super().__new__(cls, index)
        item.seed, item.epoch, item.draw = seed, epoch, draw
        return item

    def __reduce__(self):
        return SampleIndex, (int(self), self.seed, self.epoch, self.draw)

    def __repr__(self) -> str:
        return (f'SampleIndex({int(self)}, seed={self.seed}, epoch={self.epoch}, '
                f'draw={self.draw})')


@contextmanager
def kept_random_states() -> Iterator[None]:
    """Restore the states of python's ``random``, numpy's global generator and torch's CPU
    generator on exit: code around the block sees the same random stream whatever the block
    drew (CUDA generators are not touched)."""
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


@contextmanager
def augmentation_random_state(seed: int, epoch: int, draw: int) -> Iterator[None]:
    """Seed python's ``random``, numpy's global generator and torch's CPU generator from
    a hash of (seed, epoch, draw) (numpy's ``SeedSequence``); restore their states on exit,
    so that code around the block (the training step, when the data loader has no workers)
    sees the same random stream whatever the block drew.
    """
    words = np.random.SeedSequence([seed, epoch, draw]).generate_state(4, np.uint32)
    with kept_random_states():
        random.seed(int.from_bytes(words.tobytes(), 'little'))
        np.random.seed(words)
        # only the CPU generator: torch.manual_seed would also reseed every CUDA device
        torch.default_generator.manual_seed(int(words[0]) << 32 | int(words[1]))
        yield


class DrawSeededPipeline:
    """Mixin for an mmengine ``BaseDataset``: an item asked for by a :class:`SampleIndex`
    runs the pipeline with the random state of its (seed, epoch, draw); a plain index runs
    it on the ambient random state, as mmengine does."""

    def prepare_data(self, idx: int) -> Any:
        if not isinstance(idx, SampleIndex):
            return super().prepare_data(idx)
        with augmentation_random_state(idx.seed, idx.epoch, idx.draw):
            return super().prepare_data(int(idx))
