"""Draw what RGA attends to on images: input, every RGA spatial gate, and a CAM (paper Fig. 3).

    python tools/visualization/vis_attention.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        --out DIR [--cam-layer NAME] [--target-class K] [--weighting element|channel] \
        [--input-size H W] [--panel-height PX] [--device cpu] [--partial-load] \
        [--cfg-options k=v ...]

Works for the configs of all three tasks: re-ID (the CAM explains the embedding, which has
no classes, so ``--target-class`` is refused), CIFAR classification and Cityscapes
segmentation (the CAM explains a class: ``--target-class``, default the predicted one). An
IMAGE may be a folder: its image files are drawn in name order. Each image gives
``DIR/<image name>.png``; images are fed through the config's test pipeline (see
``rga_mm.visualization.image_inputs``). CIFAR's pipeline has no resize step, so pass
``--input-size 32 32`` for images of other sizes; a config whose test pipeline resizes images
itself (re-ID to a fixed size, Cityscapes keeping the aspect ratio) refuses it, as the
pipeline would resize them again. Sizes outside 1–4096
(``--input-size``) or 8–2048 (``--panel-height``) are refused before anything is loaded, and
so is an ``--out`` that
is a folder given as IMAGE or the folder of an IMAGE file, or whose grid would overwrite an
input image (a subfolder of either is taken: it is not read), or where a folder has the name of
a grid. Each grid is written beside its name and renamed into place, so that a failed write
(one sentence) or Ctrl-C leaves no cut PNG. Every image is read once before the first is
drawn, so an unreadable one stops the tool at once, named with the reason. The checkpoint
must fit the config's model (every tensor name and shape) unless ``--partial-load`` is given.
"""
import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

import rga_mm  # noqa: F401  (registers modules, allowlists runner checkpoints)
from rga_mm.apis import init_model
from rga_mm.apis.output_files import write_bytes_whole, write_failure
from rga_mm.checks import is_file_given_as_folder
from rga_mm.datasets.folder_listing import every_entry, listed_images
from rga_mm.datasets.transforms import LoadImageFromFile, UnreadableImageError
from rga_mm.deployment.arguments import int_between
from rga_mm.engine.launch import (
    PARTIAL_LOAD_HELP,
    CfgOptionsAction,
    check_out_not_beside_named_files,
    check_out_not_input_folder,
    check_output_dir,
    check_spares_inputs,
    image_named_folder_refusal,
    load_config_with_options,
)
from rga_mm.errors import MapSizeError, caused_by
from rga_mm.visualization import AttentionVisualizer, explain_packed_item, unique_stems
from rga_mm.visualization.attention_visualizer import MIN_PANEL_HEIGHT
from rga_mm.visualization.explain import cam_layer_candidates, check_target_class
from rga_mm.visualization.image_inputs import (
    displayed_image,
    file_pipeline,
    load_image_file,
    required_test_pipeline,
    resize_scale,
)

# Peak memory of drawing one grid grows with its area: about 3.5 GiB for a 2:1 image at 2048
# pixels (the grid, its float heat maps and the text canvas), four times that at 4096.
# 2048 is twice the height of a full Cityscapes image, more than any input is shown at.
MAX_PANEL_HEIGHT = 2048  # pixels
# the largest side --input-size takes (the whole Cityscapes images are 1024×2048)
MAX_INPUT_SIDE = 4096  # pixels


# an ``argparse`` type: a panel height of MIN_PANEL_HEIGHT to MAX_PANEL_HEIGHT pixels
panel_height_arg = int_between(MIN_PANEL_HEIGHT, MAX_PANEL_HEIGHT, 'pixels',
                               'larger grids take too much memory')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', required=True, help='folder to write the PNG grids to')
    parser.add_argument('--cam-layer', help='dotted name of the module whose output the CAM '
                        'explains (default: the neck if it outputs a map, else the backbone)')
    parser.add_argument('--target-class', type=int,
                        help='class the CAM explains (classification, segmentation; refused '
                        'for re-ID models, whose CAM explains the embedding)')
    parser.add_argument('--weighting', choices=['element', 'channel'], default='element',
                        help="CAM weighting: 'element' (LayerCAM) or 'channel' (Grad-CAM)")
    parser.add_argument('--input-size', nargs=2, metavar=('H', 'W'),
                        type=int_between(1, MAX_INPUT_SIDE,
                                         reason='the side of an image a model takes'),
                        help='resize images to H×W before the test pipeline, for pipelines '
                        f'without a resize step such as CIFAR\'s (1 to {MAX_INPUT_SIDE})')
    parser.add_argument('--panel-height', type=panel_height_arg, default=256,
                        help='displayed height of each panel in pixels '
                        f'({MIN_PANEL_HEIGHT} to {MAX_PANEL_HEIGHT}; default %(default)s)')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--partial-load', action='store_true', help=PARTIAL_LOAD_HELP)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries')
    args = parser.parse_args(argv)
    refusal = image_named_folder_refusal(args.out, 'vis_attention',
                                         'a folder of PNG grids, one per image')
    if refusal:
        parser.error(refusal)
    return args


def expand_images(paths: list[str]) -> list[Path]:
    """Files as given; folders → their image files in name order (the inferencer's rule:
    :func:`~rga_mm.datasets.folder_listing.listed_images`; a line names subfolders of
    images, which are not read). Stops naming a path that is neither a file nor a folder
    (:func:`missing_sentence`) or a folder without images."""
    try:
        images = listed_images(paths, print, lambda path: SystemExit(missing_sentence(path)))
    except ValueError as error:  # no image in a folder
        raise SystemExit(str(error)) from None
    return list(map(Path, images))


def missing_sentence(path: str) -> str:
    """The sentence for an IMAGE that is neither a file nor a folder: a file written with a
    trailing separator (``base.png/``), or a path that does not exist."""
    if is_file_given_as_folder(path):
        return f'image {path} is a file, not a folder: drop the trailing {path[-1]!r}'
    return f'image {path} does not exist'


def output_paths(out_dir: Path, images: list[Path]) -> list[Path]:
    """The PNG grid each image is drawn to, in the order of ``images``: ``out_dir`` /
    its unique stem (:func:`~rga_mm.visualization.unique_stems`) ``.png``."""
    return [out_dir / f'{name}.png' for name in unique_stems(images)]


def check_out_folder(out: str, inputs: list[str]) -> None:
    """Refuse an ``--out`` that is a folder given as input: its grids would overwrite its
    PNG images and be read as images next time (a subfolder is not read, so one inside the
    folder is taken)."""
    check_out_not_input_folder(out, inputs, lambda folder: (
        f'--out {out} is the image folder {folder}, where the PNG grids would overwrite its '
        f'images or be read as images next time; choose another folder (a subfolder of it is '
        f'not read)'))


def check_outputs_spare_images(out: str, inputs: list[str], images: list[Path]) -> None:
    """Stop before any work when ``--out`` is an input folder (:func:`check_out_folder`),
    a grid the tool would write is one of the input images (the same file or a link to
    it), or ``--out`` is the folder of an image given by name, whose grids a run over that
    folder's files would draw as images."""
    check_out_folder(out, inputs)
    check_spares_inputs([str(path) for path in output_paths(Path(out), images)],
                        [str(path) for path in images], option='--out')
    check_out_not_beside_named_files(out, inputs, lambda folder, image: (
        f'--out {out} is the folder of the image {image}, where the PNG grids would be drawn '
        f'as images by a run over its files ({every_entry(folder)}); choose another folder '
        f'(a subfolder of it is not read)'))


def check_grids_not_folders(out: str, images: list[Path]) -> None:
    """Stop, before the model is loaded, when the PNG grid the tool would write for an
    image (:func:`output_paths`) is a folder, which no grid can replace."""
    for image, target in zip(images, output_paths(Path(out), images)):
        if target.is_dir():
            raise SystemExit(f'--out {out}: {target}, the grid of the image {image}, is a '
                             f'folder; move it away or choose another folder')


def write_grid(target: Path, grid: np.ndarray) -> None:
    """Write the RGB ``grid`` as the PNG file ``target`` whole or not at all
    (:func:`~rga_mm.apis.output_files.write_bytes_whole`: written beside it and renamed into
    place), so that a full disk or Ctrl-C leaves no cut PNG and an earlier one as it was; a
    failed write stops the tool in one sentence."""
    png = cv2.imencode('.png', np.ascontiguousarray(grid[..., ::-1]))[1].tobytes()
    try:
        write_bytes_whole(target, png)
    except OSError as error:
        raise SystemExit(write_failure(target, error, 'give another --out')) from None


def check_images_readable(images: list[Path]) -> None:
    """Decode every image once, as the datasets' loading step does; stop with one sentence
    naming the first one that cannot be read and why (empty, undecodable, too large)."""
    reader = LoadImageFromFile()
    for path in images:
        try:
            reader.read(str(path))
        except UnreadableImageError as error:
            raise SystemExit(f'cannot read image {path}: {error.reason}; replace it or leave '
                             f'it out') from None


def pipeline_resize(test_pipeline: list[dict]) -> str | None:
    """How the first ``Resize`` of ``test_pipeline`` that gives the size itself (its
    ``scale``) resizes every image, in words: ``'to 64×32'`` (height × width; a ``scale`` of
    width, height without ``keep_ratio``, as the re-ID configs'), ``'to fit 2048×1024 (long ×
    short side) keeping the aspect ratio'`` (with it, as the Cityscapes configs'); ``None``
    when there is no such step (CIFAR's pipeline, or a ``Resize`` by ``scale_factor``)."""
    scale = resize_scale(test_pipeline)
    if scale is None:
        return None
    height, width, keep_ratio = scale
    if keep_ratio:
        return (f'to fit {max(width, height)}×{min(width, height)} (long × short side) '
                f'keeping the aspect ratio')
    return f'to {height}×{width}'


def check_input_size_applies(input_size: list[int] | None, test_pipeline: list[dict]) -> None:
    """Stop when ``--input-size`` is given for a test pipeline that resizes every image to a
    size of its own (:func:`pipeline_resize`, with or without ``keep_ratio``), after the
    option: the model would not see the size it gives (or, where the pipeline gives that
    size, would see it anyway)."""
    resize = pipeline_resize(test_pipeline) if input_size else None
    if resize and resize == f'to {input_size[0]}×{input_size[1]}':
        raise SystemExit(f'--input-size {input_size[0]} {input_size[1]}: the config\'s test '
                         f'pipeline already resizes every image {resize}; leave it out')
    if resize:
        raise SystemExit(f'--input-size {input_size[0]} {input_size[1]}: the config\'s test '
                         f'pipeline resizes every image after it, {resize}, so the model '
                         f'would not see {input_size[0]}×{input_size[1]}; leave it out (it is '
                         f'for pipelines without a resize step, such as CIFAR\'s)')


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    images = expand_images(args.images)
    check_outputs_spare_images(args.out, args.images, images)
    check_output_dir(args.out, '--out', 'another folder for the PNG grids')
    check_grids_not_folders(args.out, images)
    try:  # the options named as the command line gives them
        cfg = load_config_with_options(args.config, args.cfg_options)
        model = init_model(cfg, args.checkpoint, args.device, strict=not args.partial_load)
    except (FileNotFoundError, ImportError, ValueError) as error:  # ImportError: no mmseg
        raise SystemExit(str(error)) from None
    try:
        check_target_class(model, args.target_class, '--target-class')
        cam_layer_candidates(model, args.cam_layer)  # a name the model lacks: before any image
        test_pipeline = required_test_pipeline(model.cfg)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    check_input_size_applies(args.input_size, test_pipeline)
    check_images_readable(images)
    pipeline, channel_order = file_pipeline(test_pipeline)
    visualizer = AttentionVisualizer(name='vis_attention', panel_height=args.panel_height)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, target in zip(images, output_paths(out_dir, images)):
        try:
            data = load_image_file(str(path), pipeline, channel_order, args.input_size)
            explanation = explain_packed_item(
                model, data, cam_layer=args.cam_layer, target_class=args.target_class,
                weighting=args.weighting)
        except (FileNotFoundError, ValueError) as error:
            # a model built for one map size given an image of another, by a pipeline that
            # does not resize (CIFAR's): --input-size resizes it
            size_error = (caused_by(error, MapSizeError) and not args.input_size
                          and pipeline_resize(test_pipeline) is None)
            hint = '; pass --input-size H W to resize the image first' if size_error else ''
            raise SystemExit(f'{path}: {error}{hint}') from None
        grid = visualizer.draw_attention_grid(
            displayed_image(data['inputs'], channel_order), explanation)
        write_grid(target, grid)
        gates = ', '.join(explanation.gates) or 'no RGA spatial gate'
        print(f'{path} → {target} ({gates}; CAM of the {explanation.cam_target})')


if __name__ == '__main__':
    main()
