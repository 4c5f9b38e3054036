"""Draw the first batches of a re-ID config's data loader, as the model receives them.

    python tools/visualization/browse_dataset.py CONFIG [--split train|val|test]
        [--num-batches 2] [--out DIR] [--columns N] [--thumbnail-height 128]
        [--cfg-options k=v ...]

Before a long run on new data (your own annotation file or folders, another input size, other
augmentations), look at what training will see: the config's ``{split}_dataloader`` is built
as the Runner builds it (dataset, pipeline, sampler, identity batches, the config's seed), in
this process (``num_workers=0``: the augmentations do not depend on the worker, see
docs/reid.md), and each of its first ``--num-batches`` batches is drawn by
:class:`~rga_mm.visualization.BatchGridVisualizer` into ``DIR/batch_<n>.png``: every image
after the pipeline (resized, flipped, cropped, erased), under its identity (for the train
split, the class index 0..N−1 the dataset relabels its N identities to, in ascending order
of their ids) and camera (and whether it is a query, for a test split), ``--columns`` to a
row, by default the K images per identity of the training batches, so that each row of a
training batch is one identity.
``DIR/batches.json`` lists every image's path (null where the pipeline does not pack
``img_path``), identity (as labelled), camera and query flag, batch by batch.
``DIR`` defaults to ``work_dirs/browse/<config name>``. The pictures and ``batches.json`` are
drawn in a hidden folder in ``DIR`` and moved into it once all are drawn, and the batch
pictures an earlier run wrote there beyond this run's (those its ``batches.json`` counts)
are removed, so that the folder holds one run's batches: a run stopped part way (Ctrl-C, an
unreadable image, a full disk) leaves an earlier run's as they were. A ``--num-batches``
beyond the loader's length draws every batch, with a line on stderr saying so.

A config whose data loader reads no re-ID dataset (CIFAR, Cityscapes) is refused in one
sentence: mmpretrain and mmseg ship browse_dataset tools of their own.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import mmcv
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

import rga_mm  # noqa: F401  (registers modules)
from rga_mm.apis.output_files import write_error_fix, write_error_reason
from rga_mm.datasets import ReIDDataset
from rga_mm.datasets.image_progress import image_progress
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.deployment.arguments import int_between, positive_int_arg
from rga_mm.engine.launch import (
    CfgOptionsAction,
    check_output_dir,
    image_named_folder_refusal,
    load_config_with_options,
)
from rga_mm.registry import DATASETS
from rga_mm.visualization import BatchGridVisualizer
from rga_mm.visualization.image_inputs import displayed_image, pipeline_channel_order
from rga_mm.visualization.thumbnails import MIN_THUMBNAIL_SIDE

SPLITS = ('train', 'val', 'test')
DEFAULT_COLUMNS = 8
# the hidden folder in --out the pictures are drawn in before they replace an earlier run's
STAGING_NAME = '.browse_dataset.partial'
# thumbnails higher than this would make a batch's grid take gigabytes
MAX_THUMBNAIL_HEIGHT = 1024


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Draw the first batches of a re-ID config's data loader")
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='the data loader drawn: {split}_dataloader (default: train)')
    parser.add_argument('--num-batches', type=positive_int_arg, default=2,
                        help='batches drawn, the first ones (default: 2)')
    parser.add_argument('--out', help='folder for the pictures (default: '
                        'work_dirs/browse/<config name>)')
    parser.add_argument('--columns', type=positive_int_arg, default=None,
                        help="images per row (default: the identity batches' K images per "
                        f'identity, else {DEFAULT_COLUMNS})')
    parser.add_argument('--thumbnail-height', default=128,
                        type=int_between(MIN_THUMBNAIL_SIDE, MAX_THUMBNAIL_HEIGHT,
                                         reason="a batch's grid would take gigabytes"),
                        help="pixels (default: 128); the width keeps the input's aspect "
                        f'ratio, {MIN_THUMBNAIL_SIDE} at least, {MAX_THUMBNAIL_HEIGHT} at most')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. train_dataloader.batch_size=32')
    args = parser.parse_args(argv)
    refusal = args.out and image_named_folder_refusal(args.out, 'browse_dataset',
                                                      'a folder of batch pictures')
    if refusal:
        parser.error(refusal)
    return args


def build_loader(cfg: Config, split: str) -> DataLoader:
    """The config's ``{split}_dataloader`` as the Runner builds it, loading in this process;
    stops in one sentence when there is none or its dataset is no re-ID dataset."""
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise SystemExit(f'the config {cfg.filename} has no {key}')
    loader_cfg = cfg[key].copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    dataset_type = loader_cfg.get('dataset', {}).get('type')
    dataset_class = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
    if not (isinstance(dataset_class, type) and issubclass(dataset_class, ReIDDataset)):
        raise SystemExit(f'browse_dataset.py draws re-ID batches, and the {key} of '
                         f'{cfg.filename} reads a {dataset_type}, no re-ID dataset; mmpretrain '
                         f'and mmseg ship browse_dataset tools of their own')
    try:
        return Runner.build_dataloader(loader_cfg, seed=(cfg.get('randomness') or {}).get('seed'))
    except (FileNotFoundError, ValueError) as error:  # missing or malformed data
        raise SystemExit(str(error)) from None


def label(sample: DataSample, split: str) -> str:
    """The lines under an image: its identity (the class index of a training split) and
    camera, and in a test split whether it is a query."""
    identity = 'class' if split == 'train' else 'id'
    lines = f'{identity} {int(sample.gt_label)}\ncam {int(sample.camera_id)}'
    if split != 'train' and 'is_query' in sample:
        lines += '\nquery' if sample.is_query else '\ngallery'
    return lines


def drawn_batches(loader: DataLoader, count: int) -> Iterator[dict]:
    """The first ``count`` batches of ``loader``, with a progress bar on a terminal, else
    plain progress lines (:func:`~rga_mm.datasets.image_progress.image_progress`); an image
    that cannot be read stops the tool with its sentence."""
    try:
        yield from image_progress(islice(loader, count), 'drew', count, unit='batches')
    except UnreadableImageError as error:
        raise SystemExit(f'\n{error}') from None


def earlier_batch_pictures(out: Path) -> list[Path]:
    """The ``batch_<n>.png`` files of an earlier run in ``out``, as many as the batches its
    ``batches.json`` lists (none without a readable one)."""
    try:
        listing = json.loads((out / 'batches.json').read_text())
    except (OSError, ValueError):
        return []
    count = len(listing) if isinstance(listing, list) else 0
    return [path for path in (out / f'batch_{index}.png' for index in range(count))
            if path.is_file()]


def drawn_count(loader: DataLoader, split: str, requested: int) -> int:
    """``requested``, or the loader's length when it has fewer batches (said on stderr)."""
    if requested <= len(loader):
        return requested
    print(f'--num-batches {requested}: {split}_dataloader has {len(loader)} '
          f'batch{"" if len(loader) == 1 else "es"}; drawing every one', file=sys.stderr)
    return len(loader)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        cfg = load_config_with_options(args.config, args.cfg_options)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    out = Path(args.out or osp.join('work_dirs', 'browse',
                                    osp.splitext(osp.basename(args.config))[0]))
    check_output_dir(str(out), '--out', 'another --out')
    init_default_scope(cfg.get('default_scope', 'rga_mm'))
    loader = build_loader(cfg, args.split)
    batch_sampler = loader.batch_sampler
    columns = args.columns or getattr(batch_sampler, 'num_instances', DEFAULT_COLUMNS)
    channel_order = pipeline_channel_order(loader.dataset.pipeline.transforms)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / STAGING_NAME
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    staging.mkdir()
    try:
        count = draw_batches(loader, args, columns, channel_order, staging)
        replace_batches(staging, out)
    except OSError as error:
        raise SystemExit(f'could not write the batch pictures in {out} '
                         f'({write_error_reason(error)}), those of an earlier run there left '
                         f'as they were: {write_error_fix(error, "give another --out")}'
                         ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f'{count} batch{"" if count == 1 else "es"} of {args.split}_dataloader drawn in '
          f'{out}')


def draw_batches(loader: DataLoader, args: argparse.Namespace, columns: int,
                 channel_order: str, folder: Path) -> int:
    """Draw the batches into ``folder`` as ``batch_<n>.png`` with their ``batches.json``;
    returns how many."""
    visualizer, listing = None, []
    for index, batch in enumerate(drawn_batches(loader, drawn_count(loader, args.split,
                                                                    args.num_batches))):
        images = [displayed_image(inputs, channel_order) for inputs in batch['inputs']]
        if visualizer is None:  # thumbnails of the input's aspect ratio
            height, width = images[0].shape[:2]
            thumbnail_width = round(args.thumbnail_height * width / height)
            visualizer = BatchGridVisualizer(
                name='browse_dataset', label_lines=2 if args.split == 'train' else 3,
                thumbnail_size=(args.thumbnail_height, max(MIN_THUMBNAIL_SIDE, thumbnail_width)))
        samples = batch['data_samples']
        picture = visualizer.draw_grid(images, [label(s, args.split) for s in samples], columns)
        if not mmcv.imwrite(picture[..., ::-1], str(folder / f'batch_{index}.png')):
            raise OSError(f'OpenCV could not write {folder / f"batch_{index}.png"}')
        listing.append([dict(path=sample.get('img_path'), identity=int(sample.gt_label),
                             camera=int(sample.camera_id),
                             is_query=bool(sample.get('is_query', False)))
                        for sample in samples])
    (folder / 'batches.json').write_text(json.dumps(listing, indent=1))
    return len(listing)


def replace_batches(staging: Path, out: Path) -> None:
    """Move the pictures and ``batches.json`` drawn in ``staging`` into ``out``, the listing
    last, and remove the pictures of an earlier run there beyond this run's."""
    earlier = earlier_batch_pictures(out)
    drawn = sorted(staging.glob('batch_*.png'))
    for picture in drawn:
        os.replace(picture, out / picture.name)
    os.replace(staging / 'batches.json', out / 'batches.json')
    for picture_file in earlier[len(drawn):]:
        picture_file.unlink()


if __name__ == '__main__':
    main()
