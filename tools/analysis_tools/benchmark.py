"""CPU speed of a re-ID config's model: its relation paths, its baseline, its RGA modules.

Every report comes from one run of this script, so ratios compare times measured side by
side; each time is the fastest of ``--repeats`` runs after a warm-up (the least disturbed by
other work on the machine), on random images at the config's ``input_size``.

* **Relation paths**: one training step (data preprocessing + forward + loss + backward +
  optimizer update, ``model.train_step``, identities in P×K form, 4 images each) with every
  RGA module on the dense and on the factorized path, same weights; peak memory is that of
  the tensors created during one step (:class:`TensorMemoryTracker`).
* **Against a baseline** (``--baseline CONFIG``, e.g. the same network without attention):
  inference (eval mode, ``extract_feat`` of ``--infer-batch`` images under
  ``torch.inference_mode``) and the training step, each as the model's time over the
  baseline's, next to the ratio of their FLOPs (mmengine's counter, one image), the floor
  for extra modules that ran as fast per FLOP as the baseline does.
* **Per-module profile** (``--profile``): eval-mode forward time of each RGA module's parts
  on the map it receives in the model, at ``--infer-batch``: per branch, the embeddings
  (θ, φ, ψ as one convolution), the relation features ϕ(r_p), the gate MLP (W1, W2), the
  whole branch (with its sigmoid), and the whole module (both branches and the gating).

    python tools/analysis_tools/benchmark.py CONFIG [--baseline CONFIG] [--profile]
        [--batch 8] [--infer-batch 32] [--repeats 3]
"""
import argparse
import logging
import os
import time
from collections.abc import Sequence

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from prettytable import PrettyTable
from torch import Tensor, nn

from rga_mm.apis import init_model
from rga_mm.models.attention import RGA, RelationGate
from rga_mm.models.reid import ReIDModel
from rga_mm.testing import (
    TensorMemoryTracker,
    batch_label_refusal,
    fake_reid_batch,
    fastest_seconds,
)

IMAGES_PER_IDENTITY = 4


def set_relation_path(model: nn.Module, path: str) -> int:
    """Switch every RGA gate of ``model`` to ``path``; returns how many gates there are."""
    gates = [m for m in model.modules() if isinstance(m, RelationGate)]
    for gate in gates:
        gate.relation_path = path
    return len(gates)


def check_batch_identities(model: ReIDModel, config: str, train_batch: int,
                           baseline: bool = False) -> None:
    """Raise a ValueError naming ``--batch`` and its maximum unless the head of ``model``
    (built from ``config``, the ``--baseline`` one when ``baseline``) classifies the
    identities of a training batch (:func:`~rga_mm.testing.batch_label_refusal`)."""
    num_classes = getattr(model.head, 'num_classes', None)
    name = f'--baseline {config}' if baseline else config
    refusal = (batch_label_refusal(train_batch, IMAGES_PER_IDENTITY, num_classes,
                                   f'the head of {name}') if num_classes is not None else '')
    if refusal:
        raise ValueError(refusal)


class Workload:
    """A model with its optimizer and inputs: times its training step and its inference."""

    def __init__(self, config: str, train_batch: int, infer_batch: int,
                 baseline: bool = False) -> None:
        """Raises a ValueError for a config that builds no re-ID model or whose head
        classifies fewer identities than ``train_batch`` draws, naming it as ``--baseline``
        when it is the ``baseline``."""
        self.model = init_model(config)
        if not isinstance(self.model, ReIDModel):
            name, fix = ((f'--baseline {config}', 'give the re-ID config without attention to '
                          'compare with') if baseline else
                         (config, 'give a re-ID config (tools/analysis_tools/get_flops.py '
                          'counts the FLOPs of any config)'))
            raise ValueError(f'{name} builds the model {type(self.model).__name__}, not a '
                             f're-ID model: this benchmark times re-ID training steps on P×K '
                             f'batches and re-ID embeddings; {fix}')
        check_batch_identities(self.model, config, train_batch, baseline)
        self.height, self.width = self.model.cfg.input_size
        self.optim_wrapper = build_optim_wrapper(self.model, self.model.cfg.optim_wrapper)
        self.train_data = fake_reid_batch(train_batch // IMAGES_PER_IDENTITY,
                                          IMAGES_PER_IDENTITY, self.height, self.width)
        self.images = torch.randn(infer_batch, 3, self.height, self.width)

    def train_step(self) -> None:
        self.model.train()
        self.model.train_step(self.train_data, self.optim_wrapper)

    def inference(self) -> None:
        self.model.eval()
        with torch.inference_mode():
            self.model.extract_feat(self.images)

    def flops(self) -> int:
        """FLOPs of one image's forward (one multiply-add = one FLOP)."""
        self.model.eval()
        image = torch.zeros(1, 3, self.height, self.width)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)  # the counter warns about every op it does not count
        try:
            return get_model_complexity_info(self.model, inputs=(image, ), show_table=False,
                                             show_arch=False)['flops']
        finally:
            logger.setLevel(level)


def check_comparable(work: Workload, baseline: Workload, baseline_config: str) -> None:
    """Stop unless the baseline (a re-ID model, as :class:`Workload` checks) runs at the
    model's input size: the ratios would compare other workloads."""
    if (baseline.height, baseline.width) != (work.height, work.width):
        raise SystemExit(f'--baseline {baseline_config} runs at {baseline.height}×'
                         f'{baseline.width} but the model at {work.height}×{work.width}; '
                         f'give a baseline config of the same input_size')


def relation_path_report(work: Workload, repeats: int) -> str:
    """Train step time and peak memory with the dense and with the factorized path."""
    table = PrettyTable(['relation path', 'step s', 'peak MiB'])
    seconds = {}
    for path in ('dense', 'factorized'):
        set_relation_path(work.model, path)
        seconds[path] = fastest_seconds(work.train_step, repeats)
        with TensorMemoryTracker() as tracker:
            work.train_step()
        table.add_row([path, f'{seconds[path]:.2f}', f'{tracker.peak_bytes / 2**20:.0f}'])
    return (f'{table}\nfactorized vs dense: '
            f"{seconds['dense'] / seconds['factorized']:.2f}× faster")


def baseline_report(work: Workload, baseline: Workload, repeats: int) -> str:
    """Inference and train step time of ``work`` over ``baseline``, next to the FLOP ratio."""
    flop_ratio = work.flops() / baseline.flops()
    table = PrettyTable(['workload', 'baseline ms', 'model ms', 'time ratio', 'FLOP ratio'])
    rows = (('inference, batch %d' % len(work.images), 'inference'),
            ('train step, batch %d' % len(work.train_data['inputs']), 'train_step'))
    for label, method in rows:
        # alternate the two models so that both see the same machine load
        times = {id(w): [] for w in (work, baseline)}
        for w in (work, baseline):
            getattr(w, method)()  # warm-up
        for _ in range(repeats):
            for w in (baseline, work):
                start = time.perf_counter()
                getattr(w, method)()
                times[id(w)].append(time.perf_counter() - start)
        base_s, model_s = min(times[id(baseline)]), min(times[id(work)])
        table.add_row([label, f'{1e3 * base_s:.1f}', f'{1e3 * model_s:.1f}',
                       f'{model_s / base_s:.2f}×',
                       f'{flop_ratio:.2f}×'])
    return str(table)


def module_inputs(work: Workload) -> dict[str, tuple[RGA, Tensor]]:
    """Every RGA module of the model with the map it receives in an eval-mode forward."""
    captured, hooks = {}, []
    for name, module in work.model.named_modules():
        if isinstance(module, RGA):
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, name=name: captured.__setitem__(name, (m, args[0]))))
    try:
        work.inference()
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def branch_times(gate: RelationGate, node_map: Tensor, repeats: int) -> list[float]:
    """Milliseconds of the gate's embeddings, relation features and gate MLP on ``node_map``."""
    embeddings = gate.embeddings(node_map)
    terms = gate.gate_terms(node_map)
    parts = [lambda: gate.embeddings(node_map),
             (lambda: gate.relation_features(embeddings['theta'], embeddings['phi']))
             if gate.use_relation else None,
             lambda: gate.gate_logits(terms)]
    return [1e3 * fastest_seconds(part, repeats) if part else 0.0 for part in parts]


def module_profile_report(work: Workload, repeats: int) -> str:
    """Eval-mode forward milliseconds of each RGA module's branches and their parts."""
    table = PrettyTable(['module', 'C × h × w', 'branch', 'embeddings', 'relations',
                         'gate MLP', 'branch total', 'module total'])
    with torch.inference_mode():
        work.model.eval()
        for name, (module, x) in module_inputs(work).items():
            total = 1e3 * fastest_seconds(lambda: module(x), repeats)
            shape = ' × '.join(map(str, x.shape[1:]))
            branches = []
            if hasattr(module, 'spatial_gate'):
                branches.append(('spatial', module.spatial_gate, x,
                                 lambda: module.spatial_attention(x)))
            if hasattr(module, 'channel_gate'):
                nodes = module.channel_nodes(x)
                branches.append(('channel', module.channel_gate, nodes,
                                 lambda: module.channel_attention(x)))
            for index, (branch, gate, node_map, attention) in enumerate(branches):
                parts = branch_times(gate, node_map, repeats)
                whole = 1e3 * fastest_seconds(attention, repeats)
                table.add_row([name if index == 0 else '', shape if index == 0 else '', branch,
                               *(f'{ms:.1f}' for ms in parts), f'{whole:.1f}',
                               f'{total:.1f}' if index == 0 else ''])
    return str(table)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config of a model with RGA modules')
    parser.add_argument('--baseline', help='a config to compare the model against')
    parser.add_argument('--profile', action='store_true',
                        help='time the parts of every RGA module')
    parser.add_argument('--batch', type=int, default=8,
                        help='training batch: identities × 4 images, at least 2 identities '
                        "and at most the head's num_classes (default: 8)")
    parser.add_argument('--infer-batch', type=int, default=32,
                        help='inference batch (default: 32)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs of each workload, the fastest reported (default: 3)')
    args = parser.parse_args(argv)
    if args.batch % IMAGES_PER_IDENTITY or args.batch < 2 * IMAGES_PER_IDENTITY:
        parser.error(f'--batch must be a multiple of {IMAGES_PER_IDENTITY} and at least '
                     f'{2 * IMAGES_PER_IDENTITY} (the triplet loss needs two identities), '
                     f'got {args.batch}')
    if args.infer_batch < 1 or args.repeats < 1:
        parser.error('--infer-batch and --repeats must be at least 1')
    for option, config in (('config', args.config), ('--baseline', args.baseline)):
        if config is not None and not os.path.isfile(config):
            parser.error(f'{option} {config} is no config file')
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    try:
        work = Workload(args.config, args.batch, args.infer_batch)
        baseline = (Workload(args.baseline, args.batch, args.infer_batch, baseline=True)
                    if args.baseline else None)
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    if set_relation_path(work.model, 'factorized') == 0:
        raise SystemExit(f'{args.config} has no RGA module to benchmark')
    if baseline is not None:
        check_comparable(work, baseline, args.baseline)
    print(f'{args.config}: {work.height}×{work.width}, {torch.get_num_threads()} CPU threads, '
          f'fastest of {args.repeats}')
    print(f'\nTraining step (forward + backward + '
          f'{type(work.optim_wrapper.optimizer).__name__}), batch {args.batch}:')
    print(relation_path_report(work, args.repeats))
    if baseline is not None:
        print(f'\nAgainst {args.baseline}:')
        print(baseline_report(work, baseline, args.repeats))
    if args.profile:
        print(f'\nRGA modules, eval-mode forward ms, batch {args.infer_batch}:')
        print(module_profile_report(work, args.repeats))


if __name__ == '__main__':
    main()
