"""The time of a piece of code, as the benchmarks report it."""
import time
from collections.abc import Callable


def fastest_seconds(run: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``run``, after one warm-up call (the
    run least disturbed by other work on the machine)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)
