"""Read every image and label map of a config's datasets once and list the unreadable ones.

Label maps that cannot be trained on (another size than their image, values outside the
classes) are listed too.

    python tools/misc/check_dataset.py CONFIG [--nproc N] [--cfg-options k=v ...]

Run it before a long training: an empty, truncated or missing image otherwise stops the run
when the sampler first draws it, possibly hours in. The datasets of ``train_dataloader``,
``val_dataloader`` and ``test_dataloader`` are built as the Runner builds them (a dataset
shared by several splits counts once, and so does an image) and every image is decoded
with the loading step of the dataset's own pipeline (``LoadImageFromFile``: its colour type,
decoder and file backend). Segmentation datasets (mmseg's, whose items have a
``seg_map_path``) also have each label map decoded as the pipeline's ``LoadAnnotations``
step reads it (unchanged, by default with Pillow) and checked as
``rga_mm.CityscapesDataset``'s pipeline checks it when loaded (the same functions of
:mod:`rga_mm.datasets.cityscapes`): it must have its image's height and width, and hold only
the classes 0..C − 1 of the dataset's metainfo and its ``ignore_index``. The values are not
checked (a line says so) where the dataset has no metainfo classes or ``ignore_index``, or
where ``LoadAnnotations`` changes them after reading (``reduce_zero_label``, or a
``label_map`` from classes that are a subset of the dataset's). Prints each unreadable image
or label map and each label map that does not fit, with the reason; the exit status is 1 if
there is one, else 0. Datasets whose pipeline loads no image files (CIFAR's arrays) are
skipped.

Each ``val_evaluator`` and ``test_evaluator`` is built and given its dataset's metainfo, as
mmengine's loops give it before the first epoch, so what a metric refuses there (``ReIDMetric``
under its camera rule, given a test split whose images all come from one camera) is listed
too, and counts as a problem. For your own re-ID data (``CustomReIDAnnotations``,
``CustomReIDFolders``), identities of the train split that the test split of the same
annotations also holds are named in a warning, which does not change the exit status: the
public benchmarks keep them apart, so that the scores count people the model has not seen.

On a terminal the progress is mmengine's live bar; written to a file or a pipe (a CI log,
``| tee``, nohup) it is a plain line at each tenth of the images, and at least once a minute,
instead of the bar's carriage-return update per image.
"""
import argparse
import sys
from collections.abc import Iterator, Sequence
from multiprocessing import Pool
from typing import NamedTuple

import numpy as np
from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.evaluator import Evaluator
from mmengine.registry import DATASETS, EVALUATOR, init_default_scope
from mmengine.utils import track_iter_progress, track_parallel_progress
from torch.utils.data import Dataset

import rga_mm  # noqa: F401  (registers modules)
from rga_mm.datasets.custom_reid import CustomReIDDataset
from rga_mm.datasets.image_progress import plain_progress
from rga_mm.datasets.reid_dataset import JUNK_ID
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.deployment.arguments import positive_int_arg
from rga_mm.engine.launch import CfgOptionsAction, load_config, merge_cfg_options
from rga_mm.errors import first_listed

SPLITS = ('train', 'val', 'test')
# shared identities named in the warning
MAX_LISTED_IDS = 10


class LabelMaps(NamedTuple):
    """How to read and check the label maps of one segmentation dataset."""
    reader: LoadImageFromFile  # decodes them as the pipeline's LoadAnnotations does
    num_classes: int | None  # values 0..num_classes − 1 allowed; None: values not checked
    ignore_index: int | None
    img_suffix: str  # the file names the fixes give
    seg_map_suffix: str


class Item(NamedTuple):
    """One image to check, with its label map in a segmentation dataset."""
    image: str
    reader: LoadImageFromFile
    label: str | None = None
    maps: LabelMaps | None = None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file whose datasets to check')
    parser.add_argument('--nproc', type=positive_int_arg, default=1,
                        help='processes reading images in parallel (default: 1)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. '
                        'train_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def split_datasets(cfg: Config) -> list[tuple[str, dict]]:
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


def image_reader(dataset: Dataset) -> LoadImageFromFile | None:
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


def label_reader(dataset: BaseDataset) -> LoadImageFromFile:
    """A reader that decodes label maps as the pipeline's ``LoadAnnotations`` step does
    (mmseg's and mmcv's: flag ``unchanged``, their decoder and file backend), by default
    as mmseg's ``LoadAnnotations()`` (Pillow)."""
    for step in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if isinstance(step, MMCVLoadAnnotations):
            return LoadImageFromFile(color_type='unchanged',
                                     imdecode_backend=step.imdecode_backend,
                                     backend_args=step.backend_args)
    return LoadImageFromFile(color_type='unchanged', imdecode_backend='pillow')


def value_classes(dataset: BaseDataset) -> int | None:
    """The number of classes C whose indices 0..C − 1 a label map file of ``dataset`` may hold
    (besides its ``ignore_index``), or None when that cannot be known from the file: no
    metainfo classes or ``ignore_index``, ``reduce_zero_label``, or a ``label_map``."""
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    if (not classes or getattr(dataset, 'ignore_index', None) is None
            or getattr(dataset, 'reduce_zero_label', False)
            or getattr(dataset, 'label_map', None)):
        return None
    return len(classes)


def label_maps(dataset: BaseDataset) -> LabelMaps:
    """How to read and check the label maps of the segmentation ``dataset``."""
    return LabelMaps(label_reader(dataset), value_classes(dataset),
                     getattr(dataset, 'ignore_index', None),
                     getattr(dataset, 'img_suffix', ''), getattr(dataset, 'seg_map_suffix', ''))


def decode(path: str, reader: LoadImageFromFile) -> tuple[np.ndarray | None, str | None]:
    """(the decoded file, None), or (None, why it cannot be read)."""
    try:
        return reader.read(path), None
    except UnreadableImageError as error:
        return None, error.reason


def label_problem(label: np.ndarray, image: np.ndarray | None, image_path: str,
                  maps: LabelMaps) -> str | None:
    """What makes the decoded label map (H, W) unfit for its decoded image (H, W, 3), or None
    if nothing; the size is not compared when the image is unreadable (None)."""
    # mmseg, the seg extra, is installed wherever a dataset has label maps
    from rga_mm.datasets.cityscapes import label_map_problem
    return label_map_problem(label, None if image is None else image.shape, image_path,
                             maps.num_classes, maps.ignore_index, maps.img_suffix,
                             maps.seg_map_suffix)


def check_item(item: Item) -> tuple[str | None, str | None, str | None]:
    """(why the image cannot be read, why its label map cannot be read, what makes the label
    map unfit for its image), each None when nothing is; each file is decoded once."""
    image, image_problem = decode(item.image, item.reader)
    if item.label is None:
        return image_problem, None, None
    label, unreadable = decode(item.label, item.maps.reader)
    if label is None:
        return image_problem, unreadable, None
    return image_problem, None, label_problem(label, image, item.image, item.maps)


def build_datasets(cfg: Config) -> list[tuple[str, Dataset]]:
    """(split names, dataset) for each distinct dataset of the config, built as the Runner
    builds it; a wrong data root or a bad layout stops with its message."""
    built = []
    for splits, dataset_cfg in split_datasets(cfg):
        try:
            built.append((splits, DATASETS.build(dataset_cfg)))
        except (FileNotFoundError, ValueError) as error:  # a wrong data_root, a bad layout
            raise SystemExit(f'{splits}: {error}') from None
    return built


def collect_items(datasets: list[tuple[str, Dataset]]) -> list[Item]:
    """One item per distinct image of the datasets, with its label map for segmentation
    datasets; prints each dataset's counts."""
    items: dict[str, Item] = {}
    for splits, dataset in datasets:
        reader = image_reader(dataset)
        if reader is None:
            print(f'{splits}: {type(dataset).__name__} loads no image files; skipped')
            continue
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        seg_maps = [info['seg_map_path'] for info in infos if info.get('seg_map_path')]
        counts = f'{len(infos)} images' + (f' and {len(seg_maps)} label maps'
                                           if seg_maps else '')
        print(f'{splits}: {counts} ({type(dataset).__name__})')
        maps = label_maps(dataset) if seg_maps else None
        if maps and maps.num_classes is None:
            print(f'{splits}: label values not checked (no metainfo classes or ignore_index, '
                  f'or reduce_zero_label or a label_map changes them when loaded)')
        for info in infos:
            label = info.get('seg_map_path')
            items.setdefault(info['img_path'], Item(info['img_path'], reader, label,
                                                    maps if label else None))
    return list(items.values())


def build_evaluator(metrics: dict | list) -> Evaluator:
    """The evaluator of a ``val_evaluator`` or ``test_evaluator`` config, by the rule of
    mmengine's ``Runner.build_evaluator``: a dict with ``metrics`` is a registered evaluator,
    anything else the metric configs of the default ``Evaluator``."""
    if isinstance(metrics, dict) and 'metrics' in metrics:
        return EVALUATOR.build(dict(metrics, type=metrics.get('type', 'Evaluator')))
    return Evaluator(metrics)


def evaluator_refusals(cfg: Config, datasets: list[tuple[str, Dataset]]) -> list[str]:
    """'<split>: <why>' for each evaluator of the config that refuses its dataset's metainfo,
    given as mmengine's validation and test loops give it when they are built."""
    refusals = []
    for splits, dataset in datasets:
        for split in splits.split('/'):
            metrics = cfg.get(f'{split}_evaluator')
            if split == 'train' or not metrics:
                continue
            try:
                build_evaluator(metrics).dataset_meta = getattr(dataset, 'metainfo', None)
            except ValueError as error:  # rga_mm's ConfigError included
                refusals.append(f'{split}: {error}')
    return refusals


def shared_identity_warnings(datasets: list[tuple[str, Dataset]]) -> list[str]:
    """A warning for each test split of your own re-ID data that holds identities of the train
    split of the same annotations (the same dataset type and source), naming them."""
    train_ids = {(type(dataset), dataset.source()):  # original ids: the train split relabels
                 {item['gt_label'] for item in dataset.load_split('train')}
                 for _, dataset in datasets
                 if isinstance(dataset, CustomReIDDataset) and dataset.split == 'train'}
    warnings = []
    for splits, dataset in datasets:
        if not isinstance(dataset, CustomReIDDataset) or dataset.split == 'train':
            continue
        trained = train_ids.get((type(dataset), dataset.source()), set())
        shared = sorted(trained & {dataset.get_data_info(i)['gt_label']
                                   for i in range(len(dataset))} - {JUNK_ID})
        if shared:
            count = '1 identity' if len(shared) == 1 else f'{len(shared)} identities'
            warnings.append(
                f'warning: {splits}: {count} of the train split also in the {dataset.split} '
                f'split of {dataset.source()} ({first_listed(shared, MAX_LISTED_IDS)}): their '
                f'scores count people the model was trained on; the public benchmarks keep the '
                f'identities of training and testing apart')
    return warnings


def checked_items(items: list[Item], nproc: int) -> Iterator[tuple]:
    """:func:`check_item` of each item, in order, in ``nproc`` processes when above 1."""
    if nproc <= 1:
        yield from map(check_item, items)
        return
    with Pool(nproc) as pool:
        yield from pool.imap(check_item, items)


def check_all(items: list[Item], nproc: int) -> list[tuple]:
    """:func:`check_item` of each item, with mmengine's live progress bar on a terminal and
    :func:`plain_progress` lines otherwise."""
    if not sys.stdout.isatty():
        return list(plain_progress(checked_items(items, nproc), len(items), 'checked'))
    if nproc > 1:
        return track_parallel_progress(check_item, items, nproc)
    return [check_item(item) for item in track_iter_progress(items)]


def report(paths: list[str], problems: Sequence[str | None], what: str) -> bool:
    """Print '<count> of <len(paths)> <what>:' and a 'path: problem' line for each problem;
    True if there is one."""
    listed = [(path, problem) for path, problem in zip(paths, problems) if problem]
    if listed:
        print(f'{len(listed)} of {len(paths)} {what}:')
        for path, problem in listed:
            print(f'{path}: {problem}')
    return bool(listed)


def report_items(items: list[Item], nproc: int) -> bool:
    """Check every item, print what cannot be read or does not fit, or that all can be
    read; True if something cannot."""
    image_problems, label_unreadable, label_unfit = zip(*check_all(items, nproc))
    labelled = [index for index, item in enumerate(items) if item.label]
    labels = [items[index].label for index in labelled]
    bad = report([item.image for item in items], image_problems, 'images cannot be read')
    bad |= report(labels, [label_unreadable[index] for index in labelled],
                  'label maps cannot be read')
    bad |= report(labels, [label_unfit[index] for index in labelled],
                  'label maps do not fit their image or the classes')
    if not bad:
        print(f'all {len(items)} images' + (f' and {len(labels)} label maps' if labels else '')
              + ' can be read' + (' and fit' if labels else ''))
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config)
        merge_cfg_options(cfg, args.cfg_options, args.config)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    if not split_datasets(cfg):
        raise SystemExit(f'the config {args.config} has no dataset in train_dataloader, '
                         f'val_dataloader or test_dataloader to check')
    datasets = build_datasets(cfg)
    items = collect_items(datasets)
    bad = False
    if items:
        bad = report_items(items, args.nproc)
    else:
        print('no image files to check')
    for warning in shared_identity_warnings(datasets):
        print(warning)
    refusals = evaluator_refusals(cfg, datasets)
    for refusal in refusals:
        print(refusal)
    return int(bad or bool(refusals))


if __name__ == '__main__':
    sys.exit(main())
