"""Checking, before the first training iteration, that identity batches give the batch-hard
triplet loss what it compares: two identities and two images of each in every batch.

:class:`~rga_mm.models.reid.BatchHardTripletLoss` stops at the first batch of a single
identity (``train_dataloader.batch_size`` equal to ``num_instances``), and with one image
per identity (``num_instances=1``) it has no positive pair and trains on negatives alone,
without a word. :func:`check_triplet_batches` compares the
:class:`~rga_mm.datasets.IdentityBatchSampler` the Runner built with the loss its model holds.
"""
from mmengine.runner import Runner
from torch import nn

from rga_mm.datasets.samplers import IdentityBatchSampler
from rga_mm.errors import ConfigError
from rga_mm.models.reid.triplet_loss import BatchHardTripletLoss
from rga_mm.models.unwrap import model_of


def triplet_loss_key(model: nn.Module) -> str | None:
    """The config key of the first batch-hard triplet loss in ``model`` (a DDP wrapper is
    looked through), e.g. ``model.head.loss_triplet``; None when it has none."""
    for name, module in model_of(model).named_modules():
        if isinstance(module, BatchHardTripletLoss):
            return f'model.{name}' if name else 'model'
    return None


def check_triplet_batches(runner: Runner) -> None:
    """Refuse identity batches with fewer than 2 images per identity or fewer than 2
    identities (on each rank) for a model trained with the batch-hard triplet loss.

    Reading ``runner.train_loop`` builds the training loop and its data loader, as
    :func:`~rga_mm.engine.launch.check_classifier_size` does; a model without the loss and a
    data loader without an ``IdentityBatchSampler`` are not looked at.

    Raises:
        ConfigError: one sentence naming the ``train_dataloader`` setting and a value to set.
    """
    loss = triplet_loss_key(runner.model)
    if loss is None or runner.train_loop is None:
        return
    sampler = getattr(runner.train_loop.dataloader, 'batch_sampler', None)
    if not isinstance(sampler, IdentityBatchSampler):
        return
    images = sampler.num_instances
    if images < 2:
        raise ConfigError(
            f'train_dataloader.batch_sampler.num_instances is {images}, so a batch holds one '
            f'image per identity and the batch-hard triplet loss ({loss}) has no positive '
            f'pair: set train_dataloader.batch_sampler.num_instances to at least 2, e.g. 4, '
            f'and train_dataloader.batch_size to a multiple of it')
    if sampler.num_identities_per_batch < 2:
        raise ConfigError(
            f'train_dataloader.batch_size {sampler.batch_size} with '
            f'train_dataloader.batch_sampler.num_instances {images} gives batches of a '
            f'single identity, but the batch-hard triplet loss ({loss}) needs at least 2 '
            f'identities per batch: set train_dataloader.batch_size to at least '
            f'{2 * images} (2 identities × {images} images)')
