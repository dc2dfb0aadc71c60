"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path


def parse_only(path: Path) -> float:
    """Seconds to read the file and `json.loads` every line: the baseline of the ratios."""
    start = time.perf_counter()
    with path.open("rb") as stream:
        for line in stream:
            json.loads(line)
    return time.perf_counter() - start


def best_interleaved(
    baseline: Callable[[], float], candidate: Callable[[], float], rounds: int = 5
) -> tuple[float, float]:
    """The best time of each of two measurements, taken in turns.

    Interleaving puts both under the same machine load, and the best of a few runs damps
    the noise of a shared machine; their ratio is what the benchmarks report.
    """
    baseline_times, candidate_times = [], []
    for _ in range(rounds):
        baseline_times.append(baseline())
        candidate_times.append(candidate())
    return min(baseline_times), min(candidate_times)
