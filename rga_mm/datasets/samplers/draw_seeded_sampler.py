"""mmengine's ``DefaultSampler`` whose indices name their draw, for augmentations that depend
on (seed, epoch, draw) alone (:mod:`rga_mm.datasets.augmentation_seed`)."""
from collections.abc import Iterator

from mmengine.dataset import DefaultSampler

from rga_mm.datasets.augmentation_seed import SampleIndex
from rga_mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class DrawSeededSampler(DefaultSampler):
    """``DefaultSampler`` (same arguments, same order of items on every rank) that yields
    :class:`~rga_mm.datasets.augmentation_seed.SampleIndex` items: the index, the sampler's
    seed and epoch, and the draw, the item's position in the epoch's order over all ranks
    (rank ``r``'s ``k``-th item is draw ``r + k · world_size``). A dataset with
    ``DrawSeededPipeline`` (rga_mm's CIFAR and re-ID datasets) then augments every item the
    same whichever worker loads it and whether or not the run was resumed; any other
    dataset takes the items as plain indices. Used as::

        sampler=dict(type='rga_mm.DrawSeededSampler', shuffle=True)
    """

    def __iter__(self) -> Iterator[SampleIndex]:
        for position, index in enumerate(super().__iter__()):
            yield SampleIndex(index, self.seed, self.epoch,
                              self.rank + position * self.world_size)
