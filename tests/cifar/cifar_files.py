"""Tiny CIFAR-10/100 folders in the format of the official python archives.

Same file names and pickle keys as ``cifar-10-batches-py`` (``data_batch_1..5``,
``test_batch``, ``batches.meta`` with ``label_names``; ``data`` uint8 N×3072 in
R, G, B planes, ``labels``) and ``cifar-100-python`` (``train``, ``test``, ``meta`` with
``fine_label_names``; ``fine_labels`` and ``coarse_labels``).
"""
import pickle
from pathlib import Path

import numpy as np

NUM_CLASSES = {10: 10, 100: 100}


def _dump(path: Path, obj: dict) -> None:
    """Pickle ``obj`` to ``path`` (protocol 2, read back with latin1 like the official files)."""
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=2)


def _images(rng, labels: np.ndarray) -> np.ndarray:
    """Class-dependent mean colour plus noise, so a short run can learn something."""
    base = (labels[:, None] * 37 % 256).astype(np.int64)
    noise = rng.integers(-40, 40, size=(len(labels), 3072))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_cifar(root: Path, which: int, num_train: int, num_test: int, seed: int = 0) -> Path:
    """Write ``root/cifar-10-batches-py`` or ``root/cifar-100-python``; return ``root``."""
    rng = np.random.default_rng(seed)
    classes = NUM_CLASSES[which]
    train_labels = np.arange(num_train) % classes
    test_labels = np.arange(num_test) % classes
    if which == 10:
        folder = root / 'cifar-10-batches-py'
        folder.mkdir(parents=True)
        for index, part in enumerate(np.array_split(np.arange(num_train), 5)):
            _dump(folder / f'data_batch_{index + 1}',
                  dict(batch_label=f'training batch {index + 1} of 5',
                       labels=train_labels[part].tolist(),
                       data=_images(rng, train_labels[part]),
                       filenames=[f'train_{i}.png' for i in part]))
        _dump(folder / 'test_batch',
              dict(batch_label='testing batch 1 of 1', labels=test_labels.tolist(),
                   data=_images(rng, test_labels),
                   filenames=[f'test_{i}.png' for i in range(num_test)]))
        _dump(folder / 'batches.meta',
              dict(label_names=[f'class_{i}' for i in range(10)], num_cases_per_batch=10000,
                   num_vis=3072))
    else:
        folder = root / 'cifar-100-python'
        folder.mkdir(parents=True)
        for split, labels in (('train', train_labels), ('test', test_labels)):
            _dump(folder / split,
                  dict(filenames=[f'{split}_{i}.png' for i in range(len(labels))],
                       batch_label=f'{split}ing batch 1 of 1', fine_labels=labels.tolist(),
                       coarse_labels=(labels // 5).tolist(), data=_images(rng, labels)))
        _dump(folder / 'meta',
              dict(fine_label_names=[f'fine_{i}' for i in range(100)],
                   coarse_label_names=[f'coarse_{i}' for i in range(20)]))
    return root


def read_pickle(path: Path) -> dict:
    """A batch or meta file as mmpretrain reads it (latin1)."""
    with open(path, 'rb') as f:
        return pickle.load(f, encoding='latin1')


def rewrite(path: Path, drop: tuple[str, ...] = (), **changes: object) -> None:
    """Rewrite a batch or meta file in the same layout, ``changes`` set and ``drop`` gone
    (the other keys keep their order)."""
    entry = {key: value for key, value in read_pickle(path).items() if key not in drop}
    _dump(path, {**entry, **changes})
