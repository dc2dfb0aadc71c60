"""Timing helpers shared by the benchmarks: interleaved rounds, medians, CPU time."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson


def cpu_seconds(work: Callable[[], object]) -> float:
    """The process's CPU time for `work`: steadier than the clock on a shared machine."""
    start = time.process_time()
    work()
    return time.process_time() - start


def parse_only(path: Path) -> None:
    """Read the file and `json.loads` every line: the baseline of the ratios."""
    with path.open("rb") as stream:
        for line in stream:
            json.loads(line)


def orjson_only(path: Path) -> None:
    """Read the file and `orjson.loads` every line: the fastest parse at hand."""
    with path.open("rb") as stream:
        for line in stream:
            orjson.loads(line)


def interleaved_medians(
    measures: dict[str, Callable[[], object]], rounds: int = 5
) -> dict[str, float]:
    """The median CPU seconds of each measurement, taken in turns: interleaving puts all of
    them under the same machine load; their ratios are what the benchmarks report."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, work in measures.items():
            times[name].append(cpu_seconds(work))
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass(frozen=True)
class Paired:
    """CPU seconds of each measurement in each round (measure.paired)."""

    rounds: list[dict[str, float]]

    def ratio(self, name: str, over: str) -> float:
        """The median of the rounds' own ratios of `name` over `over`."""
        return statistics.median(times[name] / times[over] for times in self.rounds)

    def seconds(self, name: str) -> float:
        return statistics.median(times[name] for times in self.rounds)


def paired(measures: dict[str, Callable[[], object]], rounds: int = 9) -> Paired:
    """Every measurement once per round, in an order that alternates from round to round.

    A shared machine's speed drifts within seconds. A ratio taken within one round compares
    runs under the same load, and the median of those ignores the rounds a neighbour
    disturbed; the alternating order keeps any measurement from always running first."""
    names = list(measures)
    return Paired(
        [
            {name: cpu_seconds(measures[name]) for name in names[:: 1 - 2 * (number % 2)]}
            for number in range(rounds)
        ]
    )


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target (`target` None: for information only)."""

    benchmark: str
    what: str
    value: float
    unit: str
    target: float | None = None

    @property
    def met(self) -> bool:
        return self.target is None or self.value <= self.target

    def shown(self) -> str:
        value = (
            f"{self.value:.2f}{self.unit}"
            if self.unit in ("x", "s")
            else f"{self.value:.1f} {self.unit}"
        )
        if self.target is None:
            return value
        target = (
            f"{self.target:g}{self.unit}"
            if self.unit in ("x", "s")
            else f"{self.target:g} {self.unit}"
        )
        return f"{value} (target <= {target}: {'met' if self.met else 'NOT met'})"


def report(figures: list[Figure], record: Path | None) -> int:
    """Print the figures (and append them to `record` as JSON lines); 1 if a target is missed."""
    for item in figures:
        print(f"{item.what}: {item.shown()}")
    if record is not None:
        with record.open("a", encoding="utf-8") as out:
            for item in figures:
                out.write(json.dumps({**asdict(item), "met": item.met}) + "\n")
    return 0 if all(item.met for item in figures) else 1
