"""Convert the original CUHK03 release to the CUHK03-NP folder layout (new protocol).

Input (``CUHK03_ROOT``)::

    cuhk03_release/cuhk-03.mat                 the original release (MATLAB v7.3 = HDF5)
    cuhk03_new_protocol_config_labeled.mat     the new-protocol splits (Zhong et al.,
    cuhk03_new_protocol_config_detected.mat    CVPR 2017; MATLAB v5)

Output (``OUT_DIR``, usable as ``data_root`` of ``rga_mm.CUHK03``)::

    {labeled,detected}/{bounding_box_train,query,bounding_box_test}/{id:04d}_c{view}_{n}.png

where ``id`` is the protocol's identity label, ``view`` its camera (1 or 2) and ``n`` the
image's index (1..10) within its identity in ``cuhk-03.mat``. The split files name images
``{pair}_{person:03d}_{view}_{n:02d}.png`` after their place in ``cuhk-03.mat``
(camera pair 1..5, person within the pair, view, index); that is how the two are joined.

It says what it is doing at each stage (indexing ``cuhk-03.mat``, reading a split file,
writing a box type's images, with a progress bar over them: on a terminal mmengine's, in a
log a line at each tenth), since the real release takes minutes.

Each box type's tree is written into a hidden temporary folder beside its target
(``OUT_DIR/.labeled.tmp-*``) and renamed into place only once complete, so an interrupted
or failed conversion leaves no partial tree that ``rga_mm.CUHK03`` would load. A box type
whose folder in ``OUT_DIR`` is not empty is refused before anything is read, unless
``--overwrite`` is given: then the complete new tree replaces it.

Usage::

    python tools/dataset_converters/cuhk03.py data/cuhk03 data/cuhk03-np
        [--box-types labeled detected] [--overwrite]
"""
import argparse
import os
import os.path as osp
import shutil
import tempfile

import h5py
import mmcv
import numpy as np
from scipy.io import loadmat

from rga_mm.datasets.image_progress import image_progress
from rga_mm.engine.launch import check_output_folder

BOX_TYPES = ('labeled', 'detected')
RELEASE_FILE = osp.join('cuhk03_release', 'cuhk-03.mat')
SPLIT_FILE = 'cuhk03_new_protocol_config_{}.mat'
RELEASE_CONTENTS = ' and '.join(map(repr, BOX_TYPES)) + ' cell arrays of images'
SPLIT_FOLDERS = dict(train_idx='bounding_box_train', query_idx='query',
                     gallery_idx='bounding_box_test')
SPLIT_KEYS = ('filelist', 'labels', 'camId', *SPLIT_FOLDERS)
SPLIT_SOURCE = 'github.com/zhunzhong07/person-re-ranking, evaluation/data/CUHK03'


def release_images(release: h5py.File, box_type: str) -> dict[str, h5py.Reference]:
    """Map the protocol's image names to the image references of ``cuhk-03.mat``.

    ``release[box_type]`` holds one cell array per camera pair, (10 images × persons) in
    HDF5's order; empty cells (a person without a 5th image in a view) are skipped.
    """
    images = {}
    for pair, pair_ref in enumerate(release[box_type][()].ravel(), start=1):
        cells = release[pair_ref][()].T  # (persons, 10)
        for person, row in enumerate(cells, start=1):
            for index, image_ref in enumerate(row, start=1):
                if release[image_ref].ndim == 3:
                    view = 1 if index <= 5 else 2
                    images[f'{pair}_{person:03d}_{view}_{index:02d}.png'] = image_ref
    return images


def read_split(split_path: str) -> dict[str, np.ndarray]:
    """The arrays of a new-protocol split file; SystemExit naming ``split_path`` when it is
    no readable MATLAB v5 .mat file (a truncated or corrupt one included) or lacks one of
    :data:`SPLIT_KEYS`."""
    with open(split_path, 'rb') as file:  # a file that cannot be opened is not called corrupt
        try:
            split = loadmat(file)
        # scipy's reader stops on a truncated or corrupt file with whatever error its parsing
        # meets: MatReadError, but as often IndexError, OSError, TypeError, ValueError, ...
        except Exception:
            kind = ('a MATLAB v7.3 (HDF5) file' if h5py.is_hdf5(split_path)
                    else 'no MATLAB .mat file')
            raise SystemExit(f'{split_path} is {kind}; the new-protocol split files are '
                             f'MATLAB v5 .mat files holding {", ".join(SPLIT_KEYS)}: download '
                             f'it again from {SPLIT_SOURCE}') from None
    missing = [key for key in SPLIT_KEYS if key not in split]
    if missing:
        raise SystemExit(f'{split_path} lacks {", ".join(missing)}; a new-protocol split '
                         f'file holds {", ".join(SPLIT_KEYS)}: download it again from '
                         f'{SPLIT_SOURCE}')
    return split


def split_images(split_path: str, images: dict[str, h5py.Reference],
                 box_type: str) -> list[tuple[str, str, h5py.Reference]]:
    """(split folder, output file name, image reference) of every image a split file lists,
    train first, then query, then gallery; checked against ``images`` before any is written
    (SystemExit naming the split file and the first image the release lacks, or the first
    listed twice)."""
    split = read_split(split_path)
    names = [str(np.asarray(cell).ravel()[0]) for cell in split['filelist'].ravel()]
    labels, cameras = split['labels'].ravel(), split['camId'].ravel()
    listed, first_key = [], {}
    for key, folder in SPLIT_FOLDERS.items():
        for position in split[key].ravel().astype(int) - 1:  # 1-based in MATLAB
            name = names[position]
            if name not in images:
                raise SystemExit(f'{split_path} lists {name}, which is not among the '
                                 f'{box_type} images of {RELEASE_FILE}; check that the '
                                 f'split file belongs to this release')
            if name in first_key:  # its file would be written twice, or in two splits
                again = 'again' if first_key[name] == key else f'and in {first_key[name]}'
                raise SystemExit(f'{split_path} lists {name} in {key} {again}; each image '
                                 f'belongs to one split once: use the split file of the '
                                 f'release\'s new protocol ({SPLIT_SOURCE})')
            first_key[name] = key
            index = int(osp.splitext(name)[0].split('_')[3])
            out_name = f'{int(labels[position]):04d}_c{int(cameras[position])}_{index}.png'
            listed.append((folder, out_name, images[name]))
    return listed


def open_release(path: str) -> h5py.File:
    """``cuhk-03.mat`` opened read-only; SystemExit naming the file when it is no HDF5
    file (the release is a MATLAB v7.3 .mat, which is HDF5)."""
    try:
        return h5py.File(path, 'r')
    except OSError:
        raise SystemExit(f'{path} is not an HDF5 file (MATLAB v7.3 .mat); the CUHK03 '
                         f'release\'s cuhk-03.mat is one, holding {RELEASE_CONTENTS}: '
                         f'download and unpack cuhk03_release again') from None


def check_release(release: h5py.File, path: str, box_types: list[str]) -> None:
    """SystemExit naming ``path`` unless it holds a cell array (of object references) for
    each of ``box_types``, before any image is written."""
    for box_type in box_types:
        cells = release.get(box_type)
        if not isinstance(cells, h5py.Dataset) or h5py.check_dtype(ref=cells.dtype) is None:
            raise SystemExit(f'{path} holds no {box_type!r} cell array; the CUHK03 '
                             f'release\'s cuhk-03.mat holds {RELEASE_CONTENTS}: check that '
                             f'this is the original release file')


def check_targets(out_dir: str, box_types: list[str], overwrite: bool) -> None:
    """SystemExit naming the first box type's folder in ``out_dir`` that exists and is not
    an empty folder, unless ``overwrite``; called before anything is read or written."""
    if overwrite:
        return
    for box_type in box_types:
        target = osp.join(out_dir, box_type)
        if osp.lexists(target) and not (osp.isdir(target) and not os.listdir(target)):
            raise SystemExit(f'OUT_DIR {out_dir}: {target} is not empty (a previous '
                             f'conversion?); delete it or choose another OUT_DIR, or pass '
                             f'--overwrite to replace it')


def move_into_place(written: str, target: str) -> None:
    """Rename the complete tree ``written`` to ``target``; what ``target`` held (an empty
    folder, or an earlier tree under ``--overwrite``) is renamed aside first, then deleted."""
    aside = None
    if osp.lexists(target):
        aside = tempfile.mkdtemp(prefix=f'.{osp.basename(target)}.old-',
                                 dir=osp.dirname(target))
        os.rename(target, osp.join(aside, osp.basename(target)))
    os.rename(written, target)
    if aside is not None:
        shutil.rmtree(aside)


def listed_box_type(release: h5py.File, split_path: str,
                    box_type: str) -> list[tuple[str, str, h5py.Reference]]:
    """The images of one box type that its split file lists (:func:`split_images`), each
    checked against the release."""
    print(f'{box_type}: indexing the images of {RELEASE_FILE} ...', flush=True)
    images = release_images(release, box_type)
    print(f'{box_type}: reading the splits of {osp.basename(split_path)} ...', flush=True)
    return split_images(split_path, images, box_type)


def convert_box_type(release: h5py.File, listed: list[tuple[str, str, h5py.Reference]],
                     out_dir: str, box_type: str) -> dict[str, int]:
    """Write one box type's three split folders (its ``listed`` images) into a temporary
    folder beside ``out_dir/box_type``, with a progress bar over its images, and rename it
    into place once complete (deleting it if writing fails); returns the image count per
    folder."""
    target = osp.join(out_dir, box_type)
    print(f'{box_type}: writing {len(listed)} images to {target}', flush=True)
    os.makedirs(out_dir, exist_ok=True)
    written = tempfile.mkdtemp(prefix=f'.{box_type}.tmp-', dir=out_dir)
    try:
        write_images(release, listed, written)
        move_into_place(written, target)
    finally:
        shutil.rmtree(written, ignore_errors=True)  # gone already after the rename
    return {folder: sum(folder == written for written, _, _ in listed)
            for folder in SPLIT_FOLDERS.values()}


def write_images(release: h5py.File, listed: list[tuple[str, str, h5py.Reference]],
                 tree: str) -> None:
    """Write each listed image as ``tree/folder/out_name``, with a progress bar (plain
    lines in a log: :func:`~rga_mm.datasets.image_progress.image_progress`)."""
    for folder, out_name, image_ref in image_progress(listed, 'written'):
        rgb = release[image_ref][()].T  # (H, W, 3)
        mmcv.imwrite(np.ascontiguousarray(rgb[..., ::-1]), osp.join(tree, folder, out_name))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('cuhk03_root', help='folder holding cuhk03_release/ and the '
                        'cuhk03_new_protocol_config_*.mat files')
    parser.add_argument('out_dir', help='where to write the CUHK03-NP layout')
    parser.add_argument('--box-types', nargs='+', choices=BOX_TYPES, default=BOX_TYPES)
    parser.add_argument('--overwrite', action='store_true', help='replace a box type\'s '
                        'folder that OUT_DIR already holds (by default it is refused)')
    args = parser.parse_args(argv)

    release_path = osp.join(args.cuhk03_root, RELEASE_FILE)
    split_paths = {box: osp.join(args.cuhk03_root, SPLIT_FILE.format(box))
                   for box in args.box_types}
    for path in [release_path, *split_paths.values()]:
        if not osp.isfile(path):
            raise SystemExit(
                f'{path} not found; expected {RELEASE_FILE} and '
                f'{SPLIT_FILE.format("{labeled,detected}")} under {args.cuhk03_root} '
                f'(the split files come with {SPLIT_SOURCE})')
    check_output_folder(args.out_dir, 'OUT_DIR', 'another output folder')  # before reading
    check_targets(args.out_dir, args.box_types, args.overwrite)
    print(f'Reading {release_path}', flush=True)
    with open_release(release_path) as release:
        check_release(release, release_path, args.box_types)
        # every split file read and checked against the release before any image is written
        listed = {box_type: listed_box_type(release, split_path, box_type)
                  for box_type, split_path in split_paths.items()}
        for box_type, box_listed in listed.items():
            counts = convert_box_type(release, box_listed, args.out_dir, box_type)
            print(f'{box_type}: ' + ', '.join(f'{folder} {count} images'
                                              for folder, count in counts.items()))


if __name__ == '__main__':
    main()
