"""Time and memory of RGA's dense and factorized relation paths at the re-ID stage shapes.

For each of the four RGA modules of the paper's re-ID network (after ResNet-50 stages 1-4
at a 256×128 input, last stride 1) this measures forward + backward time and the peak memory
of the tensors created, for the dense path (materialises the N×N relation matrix, as the
paper) and the factorized path (rga_mm's default), on identical weights and inputs, and the
largest single tensor each path allocates next to the size of the batch's larger relation
matrices (N×N spatial or C×C channel) (tests/tools/test_analysis_tools.py proves that the
factorized path allocates no relation-sized tensor at all).

    python tools/analysis_tools/benchmark_rga.py [--batch 4] [--repeats 5]
"""
import argparse
import time
from collections.abc import Sequence

import torch
from prettytable import PrettyTable

from rga_mm.deployment.arguments import positive_int_arg
from rga_mm.models.attention import RGA
from rga_mm.testing import TensorMemoryTracker

# (C, h, w) after ResNet-50 stages 1-4 for a 256×128 input with last stride 1 (paper §4.1.1)
REID_STAGES = ((256, 64, 32), (512, 32, 16), (1024, 16, 8), (2048, 16, 8))


def relation_matrix_bytes(x: torch.Tensor) -> int:
    """Bytes of the batch's larger relation matrices: B·N² (spatial) or B·C² (channel)."""
    batch, channels, height, width = x.shape
    return batch * max(height * width, channels)**2 * x.element_size()


def forward_backward(module: RGA, x: torch.Tensor) -> None:
    module(x).sum().backward()


def measure(module: RGA, x: torch.Tensor, repeats: int) -> dict:
    """Mean forward+backward seconds, peak and largest-allocation bytes."""
    forward_backward(module, x)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        forward_backward(module, x)
    seconds = (time.perf_counter() - start) / repeats
    module.zero_grad(set_to_none=True)
    with TensorMemoryTracker() as tracker:
        forward_backward(module, x)
    return dict(seconds=seconds, peak=tracker.peak_bytes, largest=tracker.largest_bytes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=positive_int_arg, default=4)
    parser.add_argument('--repeats', type=positive_int_arg, default=5)
    parser.add_argument('--threads', type=positive_int_arg, default=None,
                        help='torch CPU threads (default: torch\'s)')
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    table = PrettyTable(['stage', 'C × h × w', 'dense ms', 'factorized ms', 'speed-up',
                         'dense peak MiB', 'factorized peak MiB', 'memory ratio',
                         'largest tensor MiB (dense / factorized)',
                         'largest relation matrix MiB'])
    totals = dict(dense_s=0., fact_s=0., dense_mem=0, fact_mem=0)
    for stage, (channels, height, width) in enumerate(REID_STAGES, start=1):
        dense = RGA(channels, spatial_size=(height, width), relation_path='dense')
        factorized = RGA(channels, spatial_size=(height, width))
        factorized.load_state_dict(dense.state_dict())
        x = torch.randn(args.batch, channels, height, width)
        d = measure(dense, x, args.repeats)
        f = measure(factorized, x, args.repeats)
        totals['dense_s'] += d['seconds']
        totals['fact_s'] += f['seconds']
        totals['dense_mem'] += d['peak']
        totals['fact_mem'] += f['peak']
        table.add_row([stage, f'{channels} × {height} × {width}', f"{d['seconds'] * 1e3:.1f}",
                       f"{f['seconds'] * 1e3:.1f}", f"{d['seconds'] / f['seconds']:.1f}×",
                       f"{d['peak'] / 2**20:.1f}", f"{f['peak'] / 2**20:.1f}",
                       f"{f['peak'] / d['peak']:.2f}",
                       f"{d['largest'] / 2**20:.1f} / {f['largest'] / 2**20:.1f}",
                       f'{relation_matrix_bytes(x) / 2**20:.1f}'])
    speedup = totals['dense_s'] / totals['fact_s']
    table.add_row(['sum', '', f"{totals['dense_s'] * 1e3:.1f}", f"{totals['fact_s'] * 1e3:.1f}",
                   f'{speedup:.1f}×', f"{totals['dense_mem'] / 2**20:.1f}",
                   f"{totals['fact_mem'] / 2**20:.1f}",
                   f"{totals['fact_mem'] / totals['dense_mem']:.2f}", '', ''])
    print(f'RGA-SC (s1 = s2 = 8), batch {args.batch}, forward + backward, '
          f'{torch.get_num_threads()} CPU threads, mean of {args.repeats}')
    print(table)
    print(f'factorized vs dense, summed over the four modules: {speedup:.1f}× faster '
          f'(target ≥ 5×: {"met" if speedup >= 5 else "NOT met"})')


if __name__ == '__main__':
    main()
