"""Read every image and label map of a config's datasets once and list those that cannot be read.

    python tools/misc/check_dataset.py CONFIG [--nproc N] [--cfg-options k=v ...]

Run it before a long training: an empty, truncated or missing image otherwise stops the run
when the sampler first draws it, possibly hours in. The datasets of ``train_dataloader``,
``val_dataloader`` and ``test_dataloader`` are built as the Runner builds them (a dataset
shared by several splits counts once, and so does an image) and every image is decoded
with the loading step of the dataset's own pipeline (``LoadImageFromFile``: its colour type,
decoder and file backend). Segmentation datasets (mmseg's, whose items have a
``seg_map_path``) also have each label map decoded as the pipeline's ``LoadAnnotations``
step reads it (unchanged, by default with Pillow). Prints each unreadable image or label map
with the reason; the exit status is 1 if there is one, else 0. Datasets whose pipeline loads
no image files (CIFAR's arrays) are skipped.
"""
import argparse
import sys
from collections.abc import Sequence

from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.registry import DATASETS, init_default_scope
from mmengine.utils import track_iter_progress, track_parallel_progress

import rga_mm  # noqa: F401  (registers modules)
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.engine.launch import CfgOptionsAction, load_config, merge_cfg_options

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file whose datasets to check')
    parser.add_argument('--nproc', type=int, default=1,
                        help='processes reading images in parallel')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
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


def label_reader(dataset) -> LoadImageFromFile:
    """A reader that decodes label maps as the pipeline's ``LoadAnnotations`` step does
    (mmseg's and mmcv's: flag ``unchanged``, their decoder and file backend), by default
    as mmseg's ``LoadAnnotations()`` (Pillow)."""
    for step in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if isinstance(step, MMCVLoadAnnotations):
            return LoadImageFromFile(color_type='unchanged',
                                     imdecode_backend=step.imdecode_backend,
                                     backend_args=step.backend_args)
    return LoadImageFromFile(color_type='unchanged', imdecode_backend='pillow')


def read_problem(task: tuple[str, LoadImageFromFile]) -> str | None:
    """Why the image cannot be read, or None when it can."""
    path, reader = task
    try:
        reader.read(path)
    except UnreadableImageError as error:
        return error.reason
    return None


def collect_files(cfg) -> tuple[dict[str, LoadImageFromFile], dict[str, LoadImageFromFile]]:
    """(image path → reader, label map path → reader) over the config's distinct datasets;
    prints each dataset's counts."""
    images: dict[str, LoadImageFromFile] = {}
    labels: dict[str, LoadImageFromFile] = {}
    for splits, dataset_cfg in split_datasets(cfg):
        try:
            dataset = DATASETS.build(dataset_cfg)
        except (FileNotFoundError, ValueError) as error:  # a wrong data_root, a bad layout
            raise SystemExit(f'{splits}: {error}') from None
        reader = image_reader(dataset)
        if reader is None:
            print(f'{splits}: {type(dataset).__name__} loads no image files; skipped')
            continue
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        seg_maps = [info['seg_map_path'] for info in infos if info.get('seg_map_path')]
        counts = f'{len(infos)} images' + (f' and {len(seg_maps)} label maps'
                                           if seg_maps else '')
        print(f'{splits}: {counts} ({type(dataset).__name__})')
        for info in infos:
            images.setdefault(info['img_path'], reader)
        if seg_maps:
            seg_reader = label_reader(dataset)
            for path in seg_maps:
                labels.setdefault(path, seg_reader)
    return images, labels


def report(kind: str, items: list[tuple[str, LoadImageFromFile]],
           problems: Sequence[str | None]) -> bool:
    """Print the unreadable files of one kind (images, label maps); True if there is one."""
    unreadable = [(path, reason) for (path, _), reason in zip(items, problems) if reason]
    if unreadable:
        print(f'{len(unreadable)} of {len(items)} {kind} cannot be read:')
        for path, reason in unreadable:
            print(f'{path}: {reason}')
    return bool(unreadable)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config)
        merge_cfg_options(cfg, args.cfg_options, args.config)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    images, labels = collect_files(cfg)
    if not images:
        print('no image files to check')
        return 0
    items = list(images.items()) + list(labels.items())
    if args.nproc > 1:
        problems = track_parallel_progress(read_problem, items, args.nproc)
    else:
        problems = [read_problem(item) for item in track_iter_progress(items)]
    split = len(images)
    bad_images = report('images', items[:split], problems[:split])
    bad_labels = report('label maps', items[split:], problems[split:])
    if bad_images or bad_labels:
        return 1
    print(f'all {len(images)} images' + (f' and {len(labels)} label maps' if labels else '')
          + ' can be read')
    return 0


if __name__ == '__main__':
    sys.exit(main())
