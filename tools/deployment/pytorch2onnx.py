"""Export a model built from an rga_mm config to ONNX and check the file with ONNX Runtime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE [--shape H W]
                                            [--dynamic-batch] [--opset N]
                                            [--max-relative-diff R] [--partial-load]
                                            [--cfg-options k=v ...]

The graph starts after the config's data preprocessor, as in OpenMMLab's deployment tools:
in, a normalised float32 batch (B, 3, H, W); out, a re-ID ``embedding`` (B, D), classifier
``logits`` (B, K) or segmentation ``seg_logits`` (B, K, H, W) at the input size
(``rga_mm/deployment/onnx_export.py``). The tool

1. builds the config's model and loads the checkpoint, which must fit it (every tensor name
   and shape) unless ``--partial-load`` is given;
2. prints the preprocessing an image needs: the channel order the graph takes (the test
   pipeline's, reversed when the data preprocessor swaps channels; RGB for rga_mm's
   configs), mean and std (also stored in the file's metadata as ``preprocessing``);
3. exports at (H, W) = ``--shape`` (default: the config's ``input_size``, else its
   ``crop_size``) for batch 1, or any batch with ``--dynamic-batch``, both stored in the
   file's metadata (``input_size``, a JSON [H, W]; ``dynamic_batch``, JSON true or false);
4. runs the file with ONNX Runtime and the model with PyTorch on random normalised images
   (batch 1; batches 1 and 3 with ``--dynamic-batch``) and prints the largest absolute
   difference and the relative one, max |Δ| / max |PyTorch output|; it exits with status 1
   when that exceeds ``--max-relative-diff`` (default 1e-4), leaving an earlier ``--out`` as
   it was and keeping the rejected export beside it for inspection, as
   ``NAME.rejected.onnx`` for ``NAME.onnx``; an export that passes removes the
   ``NAME.rejected.onnx`` an earlier one left, saying so, so that it is not taken for this
   export's.

An ``--out`` that is the config or the checkpoint, or that does not end in ``.onnx`` (in
any case), is refused before anything is read. The file is written to ``FILE.partial`` beside
it, checked by onnx's checker and by ONNX Runtime as above, and only then renamed into
place: an earlier export is replaced only by a complete one that passed the check, and an
export that fails (a full disk, a file-size limit) says so in one sentence, leaving the
earlier file as it was and no temporary file. A ``--shape``
other than a re-ID or CIFAR config's ``input_size``, and a segmentation config exported
without ``--shape`` (at its training crop, though it tests whole images), get a note on the
size images must have. Needs the ``deploy`` extra: ``pip install 'rga_mm[deploy]'``.
"""
import argparse
import os
import os.path as osp
from collections.abc import Sequence
from pathlib import Path

from rga_mm.apis import CheckpointError, init_model
from rga_mm.deployment.arguments import (
    add_shape_argument,
    input_shape,
    input_size_note,
    positive_float,
    positive_int_arg,
)
from rga_mm.deployment.onnx_export import (
    INPUT_NAME,
    RELATIVE_TOLERANCE,
    Difference,
    ExportError,
    check_opset,
    compare_with_onnxruntime,
    describe_output,
    export_onnx,
    prepare_for_export,
    preprocessing_of,
    require_deploy,
)
from rga_mm.engine.launch import (
    PARTIAL_LOAD_HELP,
    CfgOptionsAction,
    check_not_folder,
    check_output_file,
    check_spares_inputs,
    load_config_with_options,
)
from rga_mm.errors import first_line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a model to ONNX and check it against PyTorch with ONNX Runtime.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file whose weights fit the config')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    add_shape_argument(parser, help="input height and width (default: the config's "
                       'input_size, else its crop_size)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='leave the batch size free (height and width stay fixed)')
    parser.add_argument('--opset', type=positive_int_arg,
                        help="ONNX opset (default: the exporter's; 18 or later, and none "
                        'newer than the installed onnx defines)')
    parser.add_argument('--max-relative-diff', type=positive_float, default=RELATIVE_TOLERANCE,
                        metavar='R', help='largest accepted max |Δ| / max |PyTorch output| '
                        '(default %(default)g)')
    parser.add_argument('--partial-load', action='store_true', help=PARTIAL_LOAD_HELP)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, as in tools/train.py')
    return parser.parse_args(argv)


def check_onnx_suffix(out: str) -> None:
    """Stop unless ``out`` ends in ``.onnx`` (in any case): re-exporting replaces an earlier
    export, but a checkpoint, a config or an image given as ``--out`` by mistake would be
    lost; naming every export so, an ``--out`` accepted once is accepted again."""
    if Path(out).suffix.lower() == '.onnx':
        return
    existing = ', an existing file that the export would replace' if osp.exists(out) else ''
    raise SystemExit(f'--out {out} does not end in .onnx{existing}; give a path ending in '
                     f'.onnx, e.g. {Path(out).with_suffix(".onnx")}')


def rejected_path(out: str) -> str:
    """Where an export that fails its check is kept: ``NAME.rejected.onnx`` beside
    ``NAME.onnx`` (the suffix in its own case)."""
    path = Path(out)
    return str(path.with_name(f'{path.stem}.rejected{path.suffix}'))


def print_differences(differences: Sequence[Difference], tolerance: float) -> None:
    """Print the difference of ONNX Runtime from PyTorch for each batch size."""
    for difference in differences:
        print(f'ONNX Runtime vs PyTorch, batch {difference.batch}: max |Δ| = '
              f'{difference.max_abs:.3g}, relative {difference.relative:.3g} (max |Δ| / max '
              f'|PyTorch output|; target ≤ {tolerance:g})')


def reject_if_different(differences: Sequence[Difference], tolerance: float, staged: str,
                        out: str) -> None:
    """Stop, before the checked file ``staged`` replaces ``out``, when it differs from
    PyTorch by more than ``tolerance``: ``staged`` is kept as :func:`rejected_path` for
    inspection and ``out`` is left as it was (or not written).

    Raises:
        ExportError: the differences and where the rejected file is.
    """
    worst = max(differences, key=lambda difference: difference.relative)
    if worst.relative <= tolerance:
        return
    print_differences(differences, tolerance)
    rejected = rejected_path(out)
    try:
        os.replace(staged, rejected)
        kept = f'it is kept for inspection as {rejected}'
    except OSError as error:
        kept = f'it could not be kept as {rejected} ({error.strerror or first_line(error)})'
    left = f'{out} is left as it was' if osp.exists(out) else f'nothing is written to {out}'
    raise ExportError(f'the export differs from PyTorch by {worst.relative:.3g} relative to '
                      f'the largest output (max |Δ| {worst.max_abs:.3g}, largest |output| '
                      f'{worst.largest_output:.3g}), above the target {tolerance:g}: {kept}, '
                      f'and {left}; do not deploy it (outputs near 0, as of untrained '
                      f'weights, make any relative difference large)')


def remove_earlier_rejected(out: str) -> None:
    """Remove the :func:`rejected_path` file an earlier export to ``out`` left, now that an
    export passed its check, and say so."""
    rejected = rejected_path(out)
    if osp.isfile(rejected):
        os.remove(rejected)
        print(f'Removed {rejected}, the export an earlier run rejected')


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    check_not_folder(args.out, example='model.onnx')
    check_spares_inputs([args.out], [args.config, args.checkpoint])
    check_onnx_suffix(args.out)
    check_output_file(args.out, example='model.onnx')
    try:
        require_deploy()
        check_opset(args.opset, '--opset')
        model = init_model(load_config_with_options(args.config, args.cfg_options),
                           args.checkpoint, strict=not args.partial_load)
    except (FileNotFoundError, ImportError, CheckpointError, ValueError) as error:
        raise SystemExit(str(error)) from None
    shape = input_shape(model.cfg, args.shape)
    module = prepare_for_export(model)
    preprocessing = preprocessing_of(model.cfg)
    metadata = dict(config=osp.basename(args.config), preprocessing=preprocessing.to_json(),
                    output=describe_output(module, shape))
    differences = []

    def compare_with_pytorch(staged: str) -> None:
        """The check of the written file before it replaces ``--out``."""
        batches = (1, 3) if args.dynamic_batch else (1, )
        differences.extend(compare_with_onnxruntime(staged, module, shape, batches))
        reject_if_different(differences, args.max_relative_diff, staged, args.out)

    try:
        exported = export_onnx(module, args.out, shape, args.dynamic_batch, args.opset,
                               metadata, check=compare_with_pytorch)
    except ExportError as error:
        raise SystemExit(str(error)) from None

    print(f'Exported {args.config} with {args.checkpoint} to {args.out} (opset '
          f'{exported.opset}): input {INPUT_NAME!r} {exported.input_shape}, '
          f'output {module.output_name!r} {exported.output_shape}')
    print(f'Input: {preprocessing.describe(shape)}')
    note = input_size_note(model.cfg, args.shape)
    if note:
        print(note)
    print(f'Output: {metadata["output"]}')
    print_differences(differences, args.max_relative_diff)
    remove_earlier_rejected(args.out)

if __name__ == '__main__':
    main()
