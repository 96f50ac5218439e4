"""A month of app reports on a 4 x 4 lattice of grids, written apart from the city simulator.

Issue 24 asks the early warning to hold on data the project did not shape: neither the city
simulator (``civicgrid/city``) nor ``synth`` (whose model only its output format is shared
with here). The month:

* 16 grids ``L<row><col>`` in a 4 x 4 lattice, each the neighbour of the grids it shares an
  edge with;
* 6 categories, each with its own rate per grid-day, scaled per grid;
* over-dispersed daily counts: negative binomial (a gamma-distributed rate per series-day
  around the mean, shape ``DISPERSION``);
* a weekday pattern: weekends x1.3, varied per category (each category's weekend factor and
  each of its weekdays move by a few percent);
* planted one-day bursts (one grid, one category) and three-grid clusters (a grid and two of
  its neighbours, one category) in the last ten days, each sized against the spread of the
  series it lands on, so a burst is a burst whether the series is busy or quiet.

The ground truth (``Injected``) is returned apart from the reports, which carry nothing that
tells a planted report from the background.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from tools.prediction_eval.synth import Injected, Report

SIZE = 4
GRIDS = tuple(f"L{row}{col}" for row in range(SIZE) for col in range(SIZE))
# real taxonomy codes, so the same month can go through the stream's classifier hints
CATEGORIES = ("09009", "06010", "09006", "07001", "06036", "01037")
RATES = (0.4, 0.8, 1.5, 2.5, 3.0, 4.5)  # mean reports per grid-day on a weekday, per category
DISPERSION = 4.0  # gamma shape of a series-day's rate: variance = mean + mean^2 / 4
WEEKEND = 1.3
DAYS, HISTORY_DAYS, ANOMALY_DAYS = 30, 10, 10
BURSTS, CLUSTERS = 16, 10
START = datetime(2026, 4, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight, UTC+8
# reports per hour of the local day: a morning and an evening peak
_HOURS = np.array([1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 7, 6, 6, 6, 6, 6, 7, 8, 9, 8, 6, 4, 2, 1], float)
_HOURS /= _HOURS.sum()


def neighbours() -> dict[str, tuple[str, ...]]:
    """Each grid's edge-sharing neighbours."""
    out: dict[str, tuple[str, ...]] = {}
    for row in range(SIZE):
        for col in range(SIZE):
            around = [(row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)]
            out[f"L{row}{col}"] = tuple(
                f"L{r}{c}" for r, c in around if 0 <= r < SIZE and 0 <= c < SIZE
            )
    return out


@dataclass(frozen=True, slots=True)
class Month:
    reports: list[Report]
    """In arrival order."""
    truth: list[Injected]
    rates: dict[tuple[str, str], list[float]]
    """(grid, category) -> the generated mean of each day (before the day's gamma draw)."""


class _Month:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.start = start
        self.reports: list[Report] = []
        scale = np.clip(self.rng.lognormal(0.0, 0.35, len(GRIDS)), 0.5, 2.0)
        weekend = WEEKEND * np.exp(self.rng.normal(0.0, 0.08, len(CATEGORIES)))
        wiggle = np.exp(self.rng.normal(0.0, 0.05, (len(CATEGORIES), 7)))
        self.rates: dict[tuple[str, str], list[float]] = {}
        for g, grid in enumerate(GRIDS):
            for c, category in enumerate(CATEGORIES):
                self.rates[(grid, category)] = [
                    RATES[c] * scale[g] * wiggle[c, d % 7] * (weekend[c] if d % 7 >= 5 else 1.0)
                    for d in (self._weekday(day) for day in range(DAYS))
                ]

    def _weekday(self, day: int) -> int:
        return (self.start + timedelta(days=day, hours=8)).weekday()

    def _report(self, grid: str, category: str, at: datetime) -> str:
        # most reports arrive within minutes; a few wait in a phone's queue, some past the grace
        late = self.rng.random() < 0.02
        lag = self.rng.uniform(0, 5400) if late else self.rng.exponential(240.0)
        event_id = f"l{len(self.reports):07d}"
        arrives = at + timedelta(seconds=float(lag))
        self.reports.append(Report(event_id, at, arrives, grid, category, None, None, None))
        return event_id

    def _at(self, day: int, hours: np.ndarray) -> list[datetime]:
        base = self.start + timedelta(days=day)
        return [base + timedelta(hours=float(h)) for h in np.sort(hours)]

    def background(self) -> None:
        for (grid, category), means in self.rates.items():
            for day, mean in enumerate(means):
                n = int(self.rng.poisson(mean * self.rng.gamma(DISPERSION, 1.0 / DISPERSION)))
                hours = self.rng.choice(24, n, p=_HOURS) + self.rng.random(n)
                for at in self._at(day, hours):
                    self._report(grid, category, at)

    def _spread(self, grid: str, category: str, day: int) -> float:
        mean = self.rates[(grid, category)][day]
        return float(np.sqrt(mean + mean * mean / DISPERSION))

    def burst(self, day: int, grid: str, category: str, strength: float) -> Injected:
        """6-9 spreads (times ``strength``) of the series over its day's mean (at least 6
        reports), in 2-10 h."""
        spread = strength * self._spread(grid, category, day)
        extra = max(6, round(self.rng.uniform(6.0, 9.0) * spread))
        onset = self.rng.uniform(7, 14)
        hours = onset + self.rng.uniform(0, self.rng.uniform(2, 10), extra)
        ats = self._at(day, hours)
        ids = tuple(self._report(grid, category, at) for at in ats)
        return Injected("burst", (grid,), category, ats[0], ats[-1], ids)

    def cluster(self, day: int, grids: tuple[str, ...], category: str, strength: float) -> Injected:
        """Each of three neighbouring grids 3-4.5 spreads (times ``strength``) over its mean
        (at least 3 reports)."""
        onset = self.rng.uniform(6, 11)
        ats: list[datetime] = []
        ids: list[str] = []
        for grid in grids:
            spread = strength * self._spread(grid, category, day)
            extra = max(3, round(self.rng.uniform(3.0, 4.5) * spread))
            for at in self._at(day, onset + self.rng.uniform(0, 10, extra)):
                ats.append(at)
                ids.append(self._report(grid, category, at))
        return Injected("cluster", grids, category, min(ats), max(ats), tuple(ids))


def month(
    seed: int, anomalies: bool = True, start: datetime = START, strength: float = 1.0
) -> Month:
    """One month: clean history, then the scored days, anomalies in the last ten, sized
    ``strength`` times the default."""
    m = _Month(seed, start)
    m.background()
    truth: list[Injected] = []
    if anomalies:
        around = neighbours()
        first = DAYS - ANOMALY_DAYS
        for _ in range(BURSTS):
            day = int(m.rng.integers(first, DAYS))
            grid = str(m.rng.choice(GRIDS))
            truth.append(m.burst(day, grid, str(m.rng.choice(CATEGORIES)), strength))
        for _ in range(CLUSTERS):
            day = int(m.rng.integers(first, DAYS))
            centre = str(m.rng.choice(GRIDS))
            pair = m.rng.choice(len(around[centre]), 2, replace=False)
            grids = (centre, *(around[centre][int(i)] for i in pair))
            truth.append(m.cluster(day, grids, str(m.rng.choice(CATEGORIES)), strength))
    m.reports.sort(key=lambda r: (r.arrives_at, r.event_id))
    return Month(m.reports, truth, m.rates)
