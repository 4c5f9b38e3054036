"""Read every image of a config's datasets once and list those that cannot be read.

    python tools/misc/check_dataset.py CONFIG [--nproc N] [--cfg-options k=v ...]

Run it before a long training: an empty, truncated or missing image otherwise stops the run
when the sampler first draws it, possibly hours in. The datasets of ``train_dataloader``,
``val_dataloader`` and ``test_dataloader`` are built as the Runner builds them (a dataset
shared by several splits counts once, and so does an image) and every image is decoded
with the loading step of the dataset's own pipeline (``LoadImageFromFile``: its colour type,
decoder and file backend). Prints each unreadable image with the reason; the exit status is
1 if there is one, else 0. Datasets whose pipeline loads no image files (CIFAR's arrays) are
skipped.
"""
import argparse
import sys
from collections.abc import Sequence

from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.config import DictAction
from mmengine.registry import DATASETS, init_default_scope
from mmengine.utils import track_iter_progress, track_parallel_progress

import rga_mm  # noqa: F401  (registers modules)
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.engine.launch import load_config, merge_cfg_options

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file whose datasets to check')
    parser.add_argument('--nproc', type=int, default=1,
                        help='processes reading images in parallel')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. '
                        'train_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def split_datasets(cfg) -> list[tuple[str, dict]]:
    """(split names, dataset config) for each distinct dataset of the dataloaders."""
    found: list[tuple[list[str], dict]] = []
    for split in SPLITS:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        for names, dataset in found:
            if dataset == loader.dataset:
                names.append(split)
                break
        else:
            found.append(([split], loader.dataset))
    return [('/'.join(names), dataset) for names, dataset in found]


def image_reader(dataset) -> LoadImageFromFile | None:
    """The loading step of the dataset's pipeline as rga_mm's ``LoadImageFromFile``, or
    None if the pipeline loads no image files."""
    for step in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if isinstance(step, LoadImageFromFile):
            return step
        if isinstance(step, MMCVLoadImageFromFile):  # mmcv's own: read the same way
            return LoadImageFromFile(color_type=step.color_type,
                                     imdecode_backend=step.imdecode_backend,
                                     backend_args=step.backend_args)
    return None


def read_problem(task: tuple[str, LoadImageFromFile]) -> str | None:
    """Why the image cannot be read, or None when it can."""
    path, reader = task
    try:
        reader.read(path)
    except UnreadableImageError as error:
        return error.reason
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config)
        merge_cfg_options(cfg, args.cfg_options, args.config)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    tasks: dict[str, LoadImageFromFile] = {}
    for splits, dataset_cfg in split_datasets(cfg):
        try:
            dataset = DATASETS.build(dataset_cfg)
        except (FileNotFoundError, ValueError) as error:  # a wrong data_root, a bad layout
            raise SystemExit(f'{splits}: {error}') from None
        reader = image_reader(dataset)
        if reader is None:
            print(f'{splits}: {type(dataset).__name__} loads no image files; skipped')
            continue
        paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
        print(f'{splits}: {len(paths)} images ({type(dataset).__name__})')
        for path in paths:
            tasks.setdefault(path, reader)
    if not tasks:
        print('no image files to check')
        return 0
    items = list(tasks.items())
    if args.nproc > 1:
        problems = track_parallel_progress(read_problem, items, args.nproc)
    else:
        problems = [read_problem(item) for item in track_iter_progress(items)]
    unreadable = [(path, reason) for (path, _), reason in zip(items, problems) if reason]
    if not unreadable:
        print(f'all {len(items)} images can be read')
        return 0
    print(f'{len(unreadable)} of {len(items)} images cannot be read:')
    for path, reason in unreadable:
        print(f'{path}: {reason}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
