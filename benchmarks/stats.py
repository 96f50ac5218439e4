"""Figures as the median of several runs, with their spread and the target they answer to."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One row of RESULTS.md: a measured value over runs, optionally against a baseline."""

    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    baseline: str = ""
    baseline_runs: list[float] = field(default_factory=list)
    target: str = ""
    higher_is_better: bool = True
    target_value: float | None = None
    note: str = ""

    @property
    def value(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def baseline_value(self) -> float | None:
        return statistics.median(self.baseline_runs) if self.baseline_runs else None

    @property
    def ratio(self) -> float | None:
        value, base = self.value, self.baseline_value
        if value is None or not base:
            return None
        return value / base

    @property
    def met(self) -> bool | None:
        if self.target_value is None or self.value is None:
            return None
        if self.higher_is_better:
            return self.value >= self.target_value
        return self.value <= self.target_value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: no interpolation between two samples that never happened."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    # the smallest value with at least q % of the values at or below it (ceil, not round:
    # round(k + 0.5) rounds half to even and took one rank too high for odd k)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered) / 100) - 1))
    return ordered[rank]


def spread(runs: Sequence[float], fmt: str) -> str:
    """`median (min–max, n runs)`, the way every cell of the table reads."""
    if not runs:
        return "not measured"
    median = statistics.median(runs)
    if len(runs) == 1:
        return f"{median:{fmt}} (1 run)"
    return f"{median:{fmt}} ({min(runs):{fmt}}–{max(runs):{fmt}}, {len(runs)} runs)"
