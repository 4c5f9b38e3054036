"""Checking, before the first training iteration, that a re-ID classifier has an output for
every training identity, and saying so when it has many more (a config's default for your own
data left as it is).

:class:`~rga_mm.models.reid.BNNeckHead` finds a label beyond its classifier only when a batch
holding one arrives, which may be late in the first epoch; :func:`check_classifier_size`
compares the two numbers as soon as the Runner's training data is loaded.
"""
import logging

from mmengine.logging import print_log
from mmengine.runner import Runner
from torch import nn

from rga_mm.datasets.reid_dataset import ReIDDataset
from rga_mm.errors import ConfigError
from rga_mm.models.reid.bnneck_head import BNNeckHead
from rga_mm.models.unwrap import model_of


def classifier_size(model: nn.Module) -> int | None:
    """The number of identities the re-ID head of ``model`` (a DDP wrapper is looked
    through) tells apart, the outputs of its head's classifier
    (``model.head.classifier.out_features``); None without a re-ID head."""
    model = model_of(model)
    head = getattr(model, 'head', None)
    if not isinstance(head, BNNeckHead):
        return None
    return head.classifier.out_features


def training_identities(dataset: object) -> int | None:
    """How many identities a re-ID training split holds (``num_identities`` of its metainfo,
    see :class:`~rga_mm.datasets.reid_dataset.ReIDDataset`); None for any other dataset."""
    if not isinstance(dataset, ReIDDataset) or dataset.split != 'train':
        return None
    return dataset.metainfo['num_identities']


def check_classifier_size(runner: Runner) -> None:
    """Refuse a re-ID model whose classifier has fewer outputs than the training data has
    identities, before the first iteration; warn when it has more (they train, as outputs
    that are never a target, which the softmax of the identity loss still spreads over).

    Reading ``runner.train_loop`` builds the training loop and its data loader, which
    mmengine's ``Runner.train()`` would build first thing, in the same order, and then
    reuses; CIFAR, segmentation and other non-re-ID runs are not looked at.

    Raises:
        ConfigError: one sentence naming both numbers and the ``num_classes`` to set.
    """
    outputs = classifier_size(runner.model)
    if outputs is not None and runner.train_loop is not None:
        identities = training_identities(runner.train_loop.dataloader.dataset)
        if identities is not None and identities > outputs:
            raise ConfigError(f'the training data has {identities} identities but the re-ID '
                              f'classifier has {outputs} outputs, one per identity: set '
                              f'model.head.num_classes={identities}')
        if identities is not None and identities < outputs:
            print_log(f'the re-ID classifier has {outputs} outputs for the {identities} '
                      f'training identities: {outputs - identities} are never a target; set '
                      f'model.head.num_classes={identities} unless that is meant',
                      logger='current', level=logging.WARNING)
