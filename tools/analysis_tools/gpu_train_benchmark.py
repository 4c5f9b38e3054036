"""Re-ID training throughput and peak GPU memory: baseline vs RGA-SC, fp32 vs AMP.

Three models of paper §4.1 at a 256×128 input: the ResNet-50 baseline, ResNet-50 + RGA-SC
with factorized relations (rga_mm's default) and the same with dense relations (the paper's
N×N relation matrices). One training step is ``model.train_step`` on a P×K batch
(``--batch 64`` = 16 identities × 4 images, as the configs train) whose images already lie
on the device: normalisation, forward, CE + triplet losses, backward and the configs'
Adam update. Data loading is not included.

Precisions:
    fp32  full fp32: TF32 is switched off for matmuls and cuDNN convolutions
    tf32  fp32 with TF32 allowed in matmuls and convolutions (opt-in: ``--precision tf32``)
    amp   mmengine's AmpOptimWrapper, fp16 autocast with a dynamic loss scale, exactly as
          ``tools/train.py --amp`` (what stays in fp32 runs without TF32); in the CPU smoke
          run, bf16 CPU autocast instead

Each row builds its model afresh (PyTorch's default initialisation), runs ``--warmup``
steps, then times ``--iters`` steps between ``torch.cuda.synchronize()`` calls. Peak memory
is ``torch.cuda.max_memory_allocated()`` from the row's start (weights, Adam state and
activations), reset for every row. cuDNN autotuning stays off, as in the configs' env_cfg.
Prints a Markdown table.

    python tools/analysis_tools/gpu_train_benchmark.py [--batch 64] [--warmup 5] [--iters 20]
        [--precision fp32 amp] [--models baseline factorized dense] [--compile]
    python tools/analysis_tools/gpu_train_benchmark.py --device cpu   # smoke run, batch 8

``--compile`` compiles each model's ``train_step`` with ``torch.compile`` as mmengine's
Runner does for a config with ``compile=True``; the warm-up steps include the compilation.
"""
import argparse
import contextlib
import gc
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from rga_mm.apis import init_model
from rga_mm.deployment.arguments import int_at_least, positive_int_arg
from rga_mm.testing import batch_label_refusal, fake_reid_batch

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / 'configs/reid/baseline_r50-ls1_1xb64-600e_market1501-256x128.py'
RGA_SC = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'
# --models choice → (row name, config, relation path of every RGA module or None)
MODELS = {'baseline': ('baseline', BASELINE, None),
          'factorized': ('RGA-SC factorized', RGA_SC, 'factorized'),
          'dense': ('RGA-SC dense', RGA_SC, 'dense')}
PRECISIONS = ('fp32', 'tf32', 'amp')
IMAGES_PER_ID = 4
# --batch, --warmup and --iters when not given
DEVICE_DEFAULTS = {'cuda': dict(batch=64, warmup=5, iters=20),
                   'cpu': dict(batch=8, warmup=1, iters=1)}


def build_parser() -> argparse.ArgumentParser:
    """The tool's options; counts are checked by their types, the defaults of ``--batch``,
    ``--warmup`` and ``--iters`` are those of ``--device`` (:data:`DEVICE_DEFAULTS`)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=list(DEVICE_DEFAULTS), default='cuda')
    parser.add_argument('--batch', type=int,
                        help=f'images per step, P identities × {IMAGES_PER_ID} images: a '
                             f'multiple of {IMAGES_PER_ID}, at least {2 * IMAGES_PER_ID} and at '
                             f'most {IMAGES_PER_ID} × the heads\' num_classes (default 64; 8 on '
                             f'the CPU)')
    parser.add_argument('--warmup', type=int_at_least(0),
                        help='untimed steps per row, 0 or more (default 5; 1 on the CPU)')
    parser.add_argument('--iters', type=positive_int_arg,
                        help='timed steps per row, 1 or more (default 20; 1 on the CPU)')
    parser.add_argument('--precision', nargs='+', choices=PRECISIONS, default=['fp32', 'amp'],
                        help='precisions to time (default: fp32 amp)')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=list(MODELS),
                        help='models to time, the baseline first (default: all three)')
    parser.add_argument('--compile', action='store_true',
                        help="compile each model's train_step with torch.compile, as "
                             "mmengine's compile=True does (compiled in the warm-up steps)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The checked options: every refusal comes before the first model is built."""
    parser = build_parser()
    device, _ = parser.parse_known_args(argv)  # the defaults depend on --device
    parser.set_defaults(**DEVICE_DEFAULTS[device.device])
    args = parser.parse_args(argv)
    if args.models[0] != 'baseline':
        parser.error('--models must start with baseline: the ratios are to it')
    if args.compile and args.warmup < 2:
        parser.error('--compile needs --warmup of at least 2: the first steps compile (the '
                     'second again, once the optimizer has its state)')
    args.models = list(dict.fromkeys(args.models))  # each model once
    if args.batch % IMAGES_PER_ID or args.batch < 2 * IMAGES_PER_ID:
        parser.error(f'--batch must be a multiple of {IMAGES_PER_ID} and at least '
                     f'{2 * IMAGES_PER_ID} (P identities × {IMAGES_PER_ID} images, P ≥ 2 for '
                     f'the triplet loss), got {args.batch}')
    check_batch_identities(parser, args)
    return args


def check_batch_identities(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's error unless the heads of ``args.models`` classify the ``--batch`` / 4
    identities of a step (:func:`~rga_mm.testing.batch_label_refusal`)."""
    configs = {MODELS[key][1] for key in args.models}  # factorized and dense share one
    num_classes = min(Config.fromfile(str(config)).model.head.num_classes
                      for config in configs)
    refusal = batch_label_refusal(args.batch, IMAGES_PER_ID, num_classes, "each model's head")
    if refusal:
        parser.error(refusal)


def benchmark_config(config: Path, relation_path: str | None) -> Config:
    """The config with no ImageNet checkpoint and, for RGA models, the given relation path
    in every stage's RGA module (``model.backbone.attentions.layerN.relation_path``)."""
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.backbone.init_cfg = None
    if relation_path is not None:
        for attention in cfg.model.backbone.attentions.values():
            attention.relation_path = relation_path
    return cfg


@contextlib.contextmanager
def precision_context(precision: str, device: str) -> Iterator[None]:
    """TF32 switches for the row (restored after) and, for CPU amp, bf16 autocast."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = (
        precision == 'tf32')
    cpu_amp = device == 'cpu' and precision == 'amp'
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=cpu_amp):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (nothing to wait for on the CPU)."""
    if device == 'cuda':
        torch.cuda.synchronize()


def time_row(config: Path, relation_path: str | None, precision: str,
             args: argparse.Namespace) -> dict:
    """Images per second and peak bytes of one model at one precision."""
    gc.collect()
    if args.device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    cfg = benchmark_config(config, relation_path)
    model = init_model(cfg, device=args.device).train()
    if args.compile:  # as mmengine's Runner does with compile=True
        torch._dynamo.reset()  # every row compiles afresh, within dynamo's recompile limit
        model.train_step = torch.compile(model.train_step)
    optim_cfg = cfg.optim_wrapper.to_dict()
    if precision == 'amp' and args.device == 'cuda':
        optim_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')
    # optimizers and their wrappers live in mmengine's registries (rga_mm registers none)
    with DefaultScope.overwrite_default_scope('mmengine'):
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    height, width = cfg.input_size
    data = fake_reid_batch(args.batch // IMAGES_PER_ID, IMAGES_PER_ID, height, width)
    data['inputs'] = [image.to(args.device) for image in data['inputs']]

    losses = []
    with precision_context(precision, args.device):
        for _ in range(args.warmup):
            model.train_step(data, optim_wrapper)
        synchronize(args.device)
        start = time.perf_counter()
        for _ in range(args.iters):
            losses.append(model.train_step(data, optim_wrapper)['loss'].detach())
        synchronize(args.device)
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if args.device == 'cuda' else None
    finite = all(math.isfinite(loss.item()) for loss in losses)
    del model, optim_wrapper, data
    return dict(images_per_s=args.batch * args.iters / seconds, peak=peak, finite=finite)


def describe_device(device: str) -> str:
    """The line naming the device and the torch version the table was measured with."""
    if device == 'cuda':
        return (f'GPU: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda}), '
                f'torch {torch.__version__}')
    return f'CPU smoke run ({torch.get_num_threads()} threads), torch {torch.__version__}'


def format_row(row: dict, base: dict) -> str:
    """One Markdown table row; ratios are to the baseline at the same precision."""
    if 'error' in row or 'error' in base:
        return f"| {row['model']} | {row['precision']} | {row.get('error', '')} | | |"
    speed = row['images_per_s'] / base['images_per_s']
    if row['peak'] is None:
        memory, ratio = 'n/a', f'{speed:.2f}× speed'
    else:
        memory = f"{row['peak'] / 2**30:.2f}"
        ratio = f"{speed:.2f}× speed, {row['peak'] / base['peak']:.2f}× memory"
    return (f"| {row['model']} | {row['precision']} | {row['images_per_s']:.1f} | {memory} "
            f'| {ratio} |')


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_train_benchmark.py: no CUDA device (torch.cuda.is_available() is False); '
              'use --device cpu for a smoke run', file=sys.stderr)
        sys.exit(1)
    amp = ('AmpOptimWrapper, fp16 autocast + dynamic loss scale' if args.device == 'cuda'
           else 'bf16 CPU autocast (stand-in)')
    print(describe_device(args.device))
    print(f'Re-ID train step (normalise, forward, CE + triplet, backward, Adam), batch '
          f'{args.batch} = {args.batch // IMAGES_PER_ID} ids × {IMAGES_PER_ID}, 256×128, '
          f'{args.warmup} warm-up + {args.iters} timed steps; fp32 = TF32 off; tf32 = TF32 on; '
          f'amp = {amp}; cudnn.benchmark off; '
          f"{'train_step compiled (torch.compile); ' if args.compile else ''}"
          f'ratios are to the baseline at the same precision')
    print()
    print('| model | precision | images/s | peak memory (GiB) | ratio to baseline |')
    print('| --- | --- | ---: | ---: | ---: |', flush=True)
    broken = []
    for precision in args.precision:
        base = None
        for name, config, relation_path in (MODELS[key] for key in args.models):
            row = dict(model=name, precision=precision)
            try:
                row.update(time_row(config, relation_path, precision, args))
            except torch.cuda.OutOfMemoryError:
                row['error'] = 'out of memory'
                broken.append(f'{name} ({precision}): out of memory')
            base = base or row
            print(format_row(row, base), flush=True)
            if not row.get('finite', True):
                broken.append(f'{name} ({precision}): non-finite losses')
    if broken:
        print(f"\nfailed rows: {'; '.join(broken)}")
        sys.exit(1)


if __name__ == '__main__':
    main()
