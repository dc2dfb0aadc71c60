"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

from collections.abc import Callable


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
