"""Training-step time and peak memory of a config's model, dense vs factorized RGA.

One training step = data preprocessing + forward + loss + backward + optimizer update
(``model.train_step``), on random images at the config's ``input_size`` with identity
labels in P×K form (4 images per identity). Both relation paths run on the same weights;
the model's RGA modules are switched between ``'factorized'`` and ``'dense'``. Peak memory
is that of the tensors created during one step (:class:`TensorMemoryTracker`).

    python tools/analysis_tools/benchmark.py CONFIG [--batch 8] [--repeats 3]
"""
import argparse
import time

import torch
from mmengine.optim import build_optim_wrapper
from prettytable import PrettyTable

from rga_mm.apis import init_model
from rga_mm.models.attention import RelationGate
from rga_mm.utils.fake_data import fake_reid_batch
from rga_mm.utils.memory import TensorMemoryTracker


def set_relation_path(model: torch.nn.Module, path: str) -> int:
    """Switch every RGA gate of ``model`` to ``path``; returns how many gates there are."""
    gates = [m for m in model.modules() if isinstance(m, RelationGate)]
    for gate in gates:
        gate.relation_path = path
    return len(gates)


def measure(model, optim_wrapper, data: dict, repeats: int) -> dict:
    """Mean seconds per training step and peak bytes of one step."""
    model.train_step(data, optim_wrapper)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.train_step(data, optim_wrapper)
    seconds = (time.perf_counter() - start) / repeats
    with TensorMemoryTracker() as tracker:
        model.train_step(data, optim_wrapper)
    return dict(seconds=seconds, peak=tracker.peak_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = init_model(args.config).train()
    if set_relation_path(model, 'factorized') == 0:
        raise SystemExit(f'{args.config} has no RGA module to compare')
    height, width = model.cfg.input_size
    optim_wrapper = build_optim_wrapper(model, model.cfg.optim_wrapper)
    if args.batch % 4:
        raise SystemExit(f'--batch must be a multiple of 4 (identities × 4 images), '
                         f'got {args.batch}')
    data = fake_reid_batch(args.batch // 4, 4, height, width)
    results = {}
    for path in ('dense', 'factorized'):
        set_relation_path(model, path)
        results[path] = measure(model, optim_wrapper, data, args.repeats)
    dense, fact = results['dense'], results['factorized']
    table = PrettyTable(['relation path', 'step s', 'peak MiB'])
    for path, r in results.items():
        table.add_row([path, f"{r['seconds']:.2f}", f"{r['peak'] / 2**20:.0f}"])
    print(f'{args.config}: batch {args.batch}, {height}×{width}, train step '
          f'(forward + backward + {type(optim_wrapper.optimizer).__name__}), '
          f'{torch.get_num_threads()} CPU threads, mean of {args.repeats}')
    print(table)
    print(f"factorized vs dense: {dense['seconds'] / fact['seconds']:.2f}× faster, "
          f"{fact['peak'] / dense['peak']:.2f}× the peak memory")


if __name__ == '__main__':
    main()
