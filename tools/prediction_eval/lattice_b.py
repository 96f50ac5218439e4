"""A second lattice month, written from issue 24's description only (not from ``lattice``).

Written before the detector was tuned for issue 24's targets, from the issue's words alone
("16 grids in a 4 x 4 lattice with neighbours, 6 categories, over-dispersed daily counts with
weekday effects, 16 planted one-day bursts and 10 planted three-grid clusters in the last ten
days"), so that a detector tuned on one generator is checked on another whose choices differ
wherever the issue leaves them open:

* 16 grids ``Q<row><col>``; neighbours are the **eight** around a grid (edges and corners),
  where ``lattice`` takes the four sharing an edge;
* 6 categories, each with a base rate drawn log-uniformly between 0.3 and 5 reports per
  grid-day, each grid's level drawn per grid and category (lognormal), so a grid busy in one
  category need not be busy in another;
* over-dispersion: a gamma-Poisson day whose gamma shape is drawn **per series**, between
  2.5 and 12 (``lattice``: one shape, 4, for all);
* the week: a weekday profile **per category** (a weekend factor between 0.75 and 1.45, a
  Monday factor between 0.9 and 1.25, a Friday one between 0.95 and 1.15, and 6 % noise on
  every day), normalised to a mean of 1;
* a slow trend per category (up to about +-25 % over the month) and a slow drift per grid;
* **city-wide days**: 2 to 4 days (holidays, rain) on which 2 to 4 categories rise by x1.3 to
  x1.9 in every grid (each grid by its own part of it) — many grids up together, which is
  not a local anomaly, and none of it is in the ground truth, so an alert it raises counts
  as unexplained;
* 16 one-day bursts (one grid, one category) of ``mean * U(1.5, 4) + U(3, 7)`` extra reports
  in 1 to 8 hours, and 10 three-grid clusters (a grid and two of its eight neighbours, one
  category) of ``mean * U(0.8, 2) + U(2, 4)`` extra reports per grid over 4 to 14 hours, each
  on a day of the last ten; ``strength`` multiplies the extra reports;
* arrival: most reports within minutes, 3 % up to three hours late.

The reports carry nothing that tells a planted one from the background. Seeds: tune on
100-109, report on others (``lattice_eval``).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from tools.prediction_eval.synth import Injected, Report

SIZE = 4
GRIDS = tuple(f"Q{row}{col}" for row in range(SIZE) for col in range(SIZE))
CATEGORIES = ("01002", "02010", "06026", "08004", "09010", "10002")
DAYS, HISTORY_DAYS, ANOMALY_DAYS = 30, 10, 10
BURSTS, CLUSTERS = 16, 10
START = datetime(2026, 9, 7, tzinfo=UTC) - timedelta(hours=8)  # a Monday, local midnight UTC+8
# reports per hour of the local day: low at night, a long day with a lunchtime dip
_HOURS = np.array([1, 1, 1, 1, 1, 1, 2, 5, 9, 10, 10, 8, 6, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1], float)
_HOURS /= _HOURS.sum()


def neighbours() -> dict[str, tuple[str, ...]]:
    """Each grid's eight surrounding grids (fewer on the border)."""
    out: dict[str, tuple[str, ...]] = {}
    for row in range(SIZE):
        for col in range(SIZE):
            out[f"Q{row}{col}"] = tuple(
                f"Q{r}{c}"
                for r in range(row - 1, row + 2)
                for c in range(col - 1, col + 2)
                if (r, c) != (row, col) and 0 <= r < SIZE and 0 <= c < SIZE
            )
    return out


@dataclass(frozen=True, slots=True)
class Month:
    reports: list[Report]
    """In arrival order."""
    truth: list[Injected]
    rates: dict[tuple[str, str], list[float]]
    """(grid, category) -> the generated mean of each day (city-wide days included)."""
    citywide: list[tuple[int, tuple[str, ...]]]
    """The city-wide days: (day, categories lifted)."""


class _Month:
    def __init__(self, seed: int, start: datetime) -> None:
        rng = self.rng = np.random.default_rng(seed)
        self.start = start
        self.reports: list[Report] = []
        n_grids, n_cats = len(GRIDS), len(CATEGORIES)
        base = np.exp(rng.uniform(np.log(0.3), np.log(5.0), n_cats))
        level = np.exp(rng.normal(0.0, 0.4, (n_grids, n_cats)))
        self.shape = np.exp(rng.uniform(np.log(2.5), np.log(12.0), (n_grids, n_cats)))
        week = np.ones((n_cats, 7))
        week[:, 5:] = rng.uniform(0.75, 1.45, (n_cats, 1))
        week[:, 0] *= rng.uniform(0.9, 1.25, n_cats)
        week[:, 4] *= rng.uniform(0.95, 1.15, n_cats)
        week *= np.exp(rng.normal(0.0, 0.06, (n_cats, 7)))
        week /= week.mean(axis=1, keepdims=True)
        trend = rng.normal(0.0, 0.12, n_cats)
        drift = rng.normal(0.0, 0.06, n_grids)
        lift = np.ones((DAYS, n_cats))
        self.citywide: list[tuple[int, tuple[str, ...]]] = []
        for day in sorted(rng.choice(DAYS, int(rng.integers(2, 5)), replace=False)):
            cats = rng.choice(n_cats, int(rng.integers(2, 5)), replace=False)
            lift[day, cats] = rng.uniform(1.3, 1.9, len(cats))
            self.citywide.append((int(day), tuple(CATEGORIES[int(c)] for c in sorted(cats))))
        self.rates: dict[tuple[str, str], list[float]] = {}
        for g, grid in enumerate(GRIDS):
            for c, category in enumerate(CATEGORIES):
                means = []
                for day in range(DAYS):
                    t = day / DAYS
                    up = 1.0 + (lift[day, c] - 1.0) * rng.uniform(0.6, 1.4)
                    means.append(
                        float(
                            base[c]
                            * level[g, c]
                            * week[c, self._weekday(day)]
                            * np.exp(trend[c] * 2 * t + drift[g] * 2 * t)
                            * up
                        )
                    )
                self.rates[(grid, category)] = means

    def _weekday(self, day: int) -> int:
        return (self.start + timedelta(days=day, hours=8)).weekday()

    def _report(self, grid: str, category: str, at: datetime) -> str:
        late = self.rng.random() < 0.03
        lag = self.rng.uniform(0, 3 * 3600) if late else self.rng.exponential(150.0)
        event_id = f"q{len(self.reports):07d}"
        arrives = at + timedelta(seconds=float(lag))
        self.reports.append(Report(event_id, at, arrives, grid, category, None, None, None))
        return event_id

    def _at(self, day: int, hours: np.ndarray) -> list[datetime]:
        base = self.start + timedelta(days=day)
        return [base + timedelta(hours=float(min(h, 23.999))) for h in np.sort(hours)]

    def background(self) -> None:
        for g, grid in enumerate(GRIDS):
            for c, category in enumerate(CATEGORIES):
                k = float(self.shape[g, c])
                for day, mean in enumerate(self.rates[(grid, category)]):
                    n = int(self.rng.poisson(mean * self.rng.gamma(k, 1.0 / k)))
                    hours = self.rng.choice(24, n, p=_HOURS) + self.rng.random(n)
                    for at in self._at(day, hours):
                        self._report(grid, category, at)

    def burst(self, day: int, grid: str, category: str, strength: float) -> Injected:
        mean = self.rates[(grid, category)][day]
        extra = round(strength * (mean * self.rng.uniform(1.5, 4.0) + self.rng.uniform(3, 7)))
        onset = self.rng.uniform(6, 16)
        hours = onset + self.rng.uniform(0, self.rng.uniform(1, 8), extra)
        ats = self._at(day, hours)
        ids = tuple(self._report(grid, category, at) for at in ats)
        return Injected("burst", (grid,), category, ats[0], ats[-1], ids)

    def cluster(self, day: int, grids: tuple[str, ...], category: str, strength: float) -> Injected:
        onset = self.rng.uniform(5, 10)
        length = self.rng.uniform(4, 14)
        ats: list[datetime] = []
        ids: list[str] = []
        for grid in grids:
            mean = self.rates[(grid, category)][day]
            extra = round(strength * (mean * self.rng.uniform(0.8, 2.0) + self.rng.uniform(2, 4)))
            for at in self._at(day, onset + self.rng.uniform(0, length, extra)):
                ats.append(at)
                ids.append(self._report(grid, category, at))
        return Injected("cluster", grids, category, min(ats), max(ats), tuple(ids))


def month(
    seed: int, anomalies: bool = True, start: datetime = START, strength: float = 1.0
) -> Month:
    """One month: ten days of history, then twenty scored, the anomalies in the last ten;
    ``strength`` multiplies the planted reports."""
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
    return Month(m.reports, truth, m.rates, m.citywide)
