"""Print the demo's test metrics next to the chance level of the same query/gallery split.

Chance is measured, not guessed: the rank metric run on random distance matrices over the
real identities and cameras of the split (mean of ``--trials``). The metrics must have been
made on DATA_ROOT: their query counts (evaluated and skipped) must be those the rank metric
gives DATA_ROOT's query split, or the report stops naming both.

    python tools/misc/demo_report.py METRICS_JSON DATA_ROOT [--trials 5]
"""
import argparse
import json

import numpy as np
from prettytable import PrettyTable

from rga_mm.datasets import Market1501
from rga_mm.engine.launch import stop_on_input_errors
from rga_mm.evaluation.functional import rank_metrics

METRIC_KEYS = ('reid/rank1', 'reid/rank5', 'reid/rank10', 'reid/mAP', 'reid/mINP')
COUNT_KEYS = ('reid/num_query', 'reid/num_query_skipped', 'reid/num_gallery')


def chance_metrics(data_root: str, trials: int) -> dict:
    """Rank-1/5/10, mAP, mINP (%) of random rankings, averaged over ``trials`` seeds, and the
    split's ``reid/num_query`` and ``reid/num_query_skipped`` (the queries evaluated and those
    without a valid match, which do not depend on the ranking)."""
    test = Market1501(data_root, split='test')
    items = [test.get_data_info(i) for i in range(len(test))]

    def fields(is_query: bool) -> tuple[np.ndarray, np.ndarray]:
        """The identity and camera of every query (``is_query``) or gallery image."""
        chosen = [item for item in items if item['is_query'] == is_query]
        return (np.array([item['gt_label'] for item in chosen]),
                np.array([item['camera_id'] for item in chosen]))

    (q_ids, q_cams), (g_ids, g_cams) = fields(True), fields(False)
    if test.metainfo['cross_camera_queries'] == 0:
        raise SystemExit(f'{data_root} has no chance level: none of its {len(q_ids)} queries '
                         f'has a gallery image of its identity from another camera, which '
                         f'the evaluation protocol needs; give the Market-1501-style folder '
                         f'that was tested')
    rng = np.random.default_rng(0)
    runs = [rank_metrics(rng.random((len(q_ids), len(g_ids)), dtype=np.float32),
                         q_ids, g_ids, q_cams, g_cams) for _ in range(trials)]
    return {'reid/rank1': 100 * np.mean([r['cmc'][0] for r in runs]),
            'reid/rank5': 100 * np.mean([r['cmc'][4] for r in runs]),
            'reid/rank10': 100 * np.mean([r['cmc'][9] for r in runs]),
            'reid/mAP': 100 * np.mean([r['mAP'] for r in runs]),
            'reid/mINP': 100 * np.mean([r['mINP'] for r in runs]),
            'reid/num_query': runs[0]['num_valid_queries'],
            'reid/num_query_skipped': runs[0]['num_skipped_queries']}


def query_counts(metrics: dict) -> tuple[int, int, int]:
    """(queries, evaluated, skipped) of ``metrics``' ``reid/num_query`` (evaluated) and
    ``reid/num_query_skipped`` (no valid match)."""
    evaluated, skipped = (int(metrics[key]) for key in COUNT_KEYS[:2])
    return evaluated + skipped, evaluated, skipped


def check_split(trained: dict, chance: dict, metrics_path: str, data_root: str) -> None:
    """SystemExit naming both counts when the metrics at ``metrics_path`` count other queries
    (evaluated or skipped) than the rank metric gives ``data_root``'s query split: they were
    made on another split, or under another protocol, and the report would misdescribe them."""
    made, found = query_counts(trained), query_counts(chance)
    if made != found:
        raise SystemExit(
            f'the metrics {metrics_path} count {made[0]} queries ({made[1]} evaluated, '
            f'{made[2]} skipped) but the query split of {data_root} gives {found[0]} '
            f'({found[1]} evaluated, {found[2]} skipped); give the metrics tools/test.py '
            f'--out wrote on {data_root}, or the data root they were made on')


def read_metrics(path: str) -> dict:
    """The metrics tools/test.py --out wrote; SystemExit naming ``path`` when it cannot be
    read or lacks one of the re-ID keys the report prints."""
    try:
        with open(path) as f:
            metrics = json.load(f)
    except (OSError, ValueError) as error:
        raise SystemExit(f'cannot read the metrics {path} ({error}); give the JSON '
                         f'that tools/test.py --out wrote') from None
    found = metrics if isinstance(metrics, dict) else {}
    missing = [key for key in METRIC_KEYS + COUNT_KEYS if key not in found]
    if missing:
        raise SystemExit(f'the metrics {path} lack {", ".join(missing)}; give the JSON that '
                         f'tools/test.py --out wrote for a re-ID config')
    not_numbers = [key for key in METRIC_KEYS + COUNT_KEYS
                   if isinstance(found[key], bool) or not isinstance(found[key], (int, float))]
    if not_numbers:
        key = not_numbers[0]
        raise SystemExit(f'the metrics {path} give {key} as {found[key]!r}, not a number; give '
                         f'the JSON that tools/test.py --out wrote')
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('metrics', help='JSON written by tools/test.py --out')
    parser.add_argument('data_root', help='the Market-1501-style folder that was tested')
    parser.add_argument('--trials', type=int, default=5,
                        help='random rankings to average for the chance row (at least 1; default '
                        '%(default)s)')
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f'--trials {args.trials}: the chance row is a mean over that many '
                     f'random rankings; give 1 or more')
    trained = read_metrics(args.metrics)
    with stop_on_input_errors():  # a wrong data_root: its message names the folder
        chance = chance_metrics(args.data_root, args.trials)
    check_split(trained, chance, args.metrics, args.data_root)
    table = PrettyTable(['', 'Rank-1', 'Rank-5', 'Rank-10', 'mAP', 'mINP'])
    table.add_row(['RGA-SC (trained)', *(f'{trained[k]:.1f}' for k in METRIC_KEYS)])
    table.add_row(['chance (random ranking)', *(f'{chance[k]:.1f}' for k in METRIC_KEYS)])
    print(f"re-ID on {args.data_root}: {int(trained['reid/num_query'])} queries evaluated "
          f"({int(trained['reid/num_query_skipped'])} skipped: no valid match), "
          f"{int(trained['reid/num_gallery'])} gallery images (%)")
    print(table)


if __name__ == '__main__':
    main()
