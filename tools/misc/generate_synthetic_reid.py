"""Write a synthetic person re-ID dataset in Market-1501's layout (no download needed).

Output (``ROOT``, default ``data/synthetic_reid``)::

    ROOT/Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}/*.jpg
    ROOT/Market-1501-v15.09.15/synthetic_manifest.json

usable as ``data_root`` of ``rga_mm.datasets.Market1501``. Running it again with the same
options returns at once; see ``rga_mm.synthetic.generate_synthetic_market``.

Usage::

    python tools/misc/generate_synthetic_reid.py data/synthetic_reid --seed 0
"""
import argparse
import inspect
import time

from rga_mm.deployment.arguments import int_at_least
from rga_mm.engine.launch import check_output_folder
from rga_mm.synthetic import describe, generate_synthetic_market

DEFAULTS = {name: parameter.default for name, parameter in
            inspect.signature(generate_synthetic_market).parameters.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('root', nargs='?', default='data/synthetic_reid',
                        help='folder that receives Market-1501-v15.09.15/')
    parser.add_argument('--train-ids', type=int, default=DEFAULTS['num_train_ids'],
                        help='training identities')
    parser.add_argument('--test-ids', type=int, default=DEFAULTS['num_test_ids'],
                        help='test identities (query and gallery)')
    parser.add_argument('--cameras', type=int, default=DEFAULTS['num_cameras'],
                        help='cameras c1..cN')
    parser.add_argument('--cameras-per-id', type=int, nargs=2, metavar=('MIN', 'MAX'),
                        default=argparse.SUPPRESS,
                        help='cameras that see each identity (default: %s, each clamped to '
                             '--cameras)' % (DEFAULTS['cameras_per_id'], ))
    ranges = dict(images_per_camera='images of an identity per camera',
                  query_cameras_per_id='cameras giving one query image per test identity')
    for name, meaning in ranges.items():
        parser.add_argument('--' + name.replace('_', '-'), type=int, nargs=2,
                            metavar=('MIN', 'MAX'), default=DEFAULTS[name], help=meaning)
    parser.add_argument('--image-size', type=int, nargs=2, metavar=('H', 'W'),
                        default=DEFAULTS['image_size'], help='size of every image')
    parser.add_argument('--distractors', type=int, default=DEFAULTS['num_distractors'],
                        help='gallery images of id 0000')
    parser.add_argument('--junk', type=int, default=DEFAULTS['num_junk'],
                        help='gallery images of id -1')
    parser.add_argument('--seed', type=int_at_least(0), default=DEFAULTS['seed'],
                        help='everything follows from it, 0 or more')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace split folders that this tool did not write')
    args = parser.parse_args(argv)
    args.cameras_per_id = cameras_per_id(args)
    return args


def cameras_per_id(args: argparse.Namespace) -> tuple[int, int]:
    """``--cameras-per-id`` as given, or its default clamped to ``--cameras`` so that a
    small camera count works without it (a given range that does not fit stays an error)."""
    if hasattr(args, 'cameras_per_id'):  # given (the option's default is SUPPRESS)
        return tuple(args.cameras_per_id)
    low, high = DEFAULTS['cameras_per_id']
    return min(low, args.cameras), min(high, args.cameras)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_output_folder(args.root, 'root', 'another root')  # before anything is written
    print(f'Writing a synthetic Market-1501 under {args.root} (seed {args.seed}) ...',
          flush=True)
    start = time.perf_counter()
    try:
        folder = generate_synthetic_market(
            args.root, num_train_ids=args.train_ids, num_test_ids=args.test_ids,
            num_cameras=args.cameras, cameras_per_id=args.cameras_per_id,
            images_per_camera=args.images_per_camera,
            query_cameras_per_id=args.query_cameras_per_id, image_size=args.image_size,
            num_distractors=args.distractors, num_junk=args.junk, seed=args.seed,
            overwrite=args.overwrite)
    except (FileExistsError, ValueError) as error:  # bad counts, a folder it did not write
        raise SystemExit(str(error)) from None
    print(f'{folder}: {describe(folder)}; {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
