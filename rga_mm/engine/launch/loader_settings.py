"""Checking the data loaders' ``batch_size`` and ``num_workers`` before the Runner builds
them.

PyTorch's ``DataLoader`` refuses a batch size below 1 (or not an integer) and a negative
number of workers with a traceback through mmengine, at the moment a loop first builds its
loader: for ``val_dataloader`` after the first training epochs. A loader whose
``batch_sampler`` is configured gets its batch size checked by that sampler
(:class:`~rga_mm.datasets.IdentityBatchSampler` names P × K), so only its ``num_workers`` is
looked at here.
"""
from mmengine.config import Config

from rga_mm.checks import is_int
from rga_mm.errors import ConfigError
from .config import DATALOADERS


def check_loader_settings(cfg: Config) -> None:
    """Refuse a ``batch_size`` that is not an integer >= 1 and a ``num_workers`` that is not
    an integer >= 0 in any of ``cfg``'s data loaders, naming the key.

    Raises:
        ConfigError: one sentence naming the setting and a value it takes.
    """
    for loader in DATALOADERS:
        settings = cfg.get(loader)
        if not isinstance(settings, dict):
            continue
        batch_size = settings.get('batch_size', 1)
        if settings.get('batch_sampler') is None and not (is_int(batch_size)
                                                           and batch_size >= 1):
            raise ConfigError(f'{loader}.batch_size is {batch_size!r}, but a batch holds a '
                              f'whole number of samples, at least 1: set it to a positive '
                              f'integer')
        num_workers = settings.get('num_workers', 0)
        if not (is_int(num_workers) and num_workers >= 0):
            raise ConfigError(f'{loader}.num_workers is {num_workers!r}: set it to the number '
                              f'of processes loading data, or 0 to load in the main process')
