"""Checking, before anything is built, that a classification or segmentation head has an
output for every class of the data it is trained and tested on.

A head with fewer outputs than the dataset's classes meets a label beyond it only when a
batch holds one: training stops there with PyTorch's ``Target N is out of bounds``, and
testing a checkpoint on data of more classes (a CIFAR-10 model on CIFAR-100) reports an
accuracy near zero without a word. :func:`check_heads_cover_classes` compares the
``num_classes`` of the config's heads with the classes of each data loader's dataset (its
``metainfo.classes`` in the config, else its type's ``METAINFO``). Re-ID heads are checked
against the training identities once the data is loaded (:mod:`.classifier_size`).
"""
from collections.abc import Sequence

from mmengine.config import Config
from mmengine.registry import DATASETS

from rga_mm.errors import ConfigError
from .config import DATALOADERS

# the model entries whose num_classes is one output per class of the dataset (mmpretrain's
# classifier head; mmseg's decode and auxiliary heads)
CLASS_HEADS = ('head', 'decode_head', 'auxiliary_head')


def dataset_classes(dataset_cfg: dict, scope: str | None) -> int | None:
    """How many classes the dataset ``dataset_cfg`` builds (``metainfo.classes`` given in
    the config, else its registered type's ``METAINFO['classes']``, the type looked up in
    ``scope``); None for a dataset without classes (re-ID, a dataset wrapper, a type not
    registered)."""
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes'):
        return len(metainfo['classes'])
    dataset_type = dataset_cfg.get('type')
    if isinstance(dataset_type, str):
        with DATASETS.switch_scope_and_registry(scope) as registry:
            dataset_type = registry.get(dataset_type)
    classes = (getattr(dataset_type, 'METAINFO', None) or {}).get('classes')
    return len(classes) if classes else None


def class_heads(model_cfg: dict) -> list[tuple[str, int]]:
    """(config key, num_classes) of each head in :data:`CLASS_HEADS` that sets num_classes
    (mmseg's auxiliary heads may be a list)."""
    heads = []
    for name in CLASS_HEADS:
        entry = model_cfg.get(name)
        entries = entry if isinstance(entry, list) else [entry]
        for index, head in enumerate(entries):
            if isinstance(head, dict) and isinstance(head.get('num_classes'), int):
                key = f'model.{name}' + (f'[{index}]' if isinstance(entry, list) else '')
                heads.append((key, head['num_classes']))
    return heads


def check_heads_cover_classes(cfg: Config, loaders: Sequence[str] = DATALOADERS) -> None:
    """Refuse a config whose heads have fewer outputs (``num_classes``) than the dataset of
    one of its data ``loaders`` (those the run reads: only ``test_dataloader`` for a test)
    has classes; more outputs than classes are left alone (they train).

    Raises:
        ConfigError: one sentence naming the head's key, the data loader and the
            ``num_classes`` to set.
    """
    heads = class_heads(cfg.get('model') or {})
    if not heads:
        return
    for loader in loaders:
        dataset_cfg = (cfg.get(loader) or {}).get('dataset')
        if not isinstance(dataset_cfg, dict):
            continue
        classes = dataset_classes(dataset_cfg, cfg.get('default_scope'))
        for key, outputs in heads:
            if classes is not None and outputs < classes:
                raise ConfigError(
                    f'{key}.num_classes={outputs} but {loader}.dataset '
                    f'({dataset_cfg.get("type")}) has {classes} classes, so labels from '
                    f'{outputs} up would have no output: set {key}.num_classes={classes}, or '
                    f'give the data the model was built for')
