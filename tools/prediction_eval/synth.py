"""Synthetic report series for the early-warning evaluation, with ground truth.

Background: per grid x category Poisson counts whose daily rate follows a
Zipf-like category mix, a weekend dip, an hour-of-day profile and a gamma day
effect (real counts are overdispersed). Anomalies injected on top:

* ``burst``: 8-20 extra reports of one category in one grid within 2-12 hours;
* ``cluster``: 3-4 neighbouring grids, 6-12 extra reports each, same category
  and the same 12-hour span;
* ``repeat``: 3-5 reports of one point (same code, or no code and within 20 m)
  over 1-5 days.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from tools.city.model import Grid

CATEGORIES = (
    "09009", "06010", "09006", "07001", "06036", "01037", "03005", "06028", "06027",
    "L0501", "L0101", "06029", "04002", "02010", "08004", "L0301", "06001", "L0102",
    "01002", "L0401", "06026", "L0302", "10002", "L0202", "01013", "09012", "L0201",
    "L0203", "L0103", "01049", "L0303",
)  # fmt: skip
_HOURS = np.array([1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 8, 7, 7, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1], float)
_HOURS /= _HOURS.sum()
REPORTS_PER_GRID_DAY = 5.0


@dataclass(frozen=True, slots=True)
class Report:
    event_id: str
    occurred_at: datetime
    arrives_at: datetime
    grid_id: str
    category: str
    code: str | None
    lat: float | None  # None: a simulator report that names only its code
    lon: float | None


@dataclass(frozen=True, slots=True)
class Injected:
    kind: str
    grid_ids: tuple[str, ...]
    category: str
    start: datetime
    end: datetime
    event_ids: tuple[str, ...]


class _Builder:
    def __init__(self, grids: Sequence[Grid], seed: int, start: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.grids = {g.grid_id: g for g in grids}
        self.start = start
        self.reports: list[Report] = []

    def report(self, grid_id: str, category: str, at: datetime, **where: object) -> str:
        grid = self.grids[grid_id]
        lons = [p[0] for p in grid.polygon]
        lats = [p[1] for p in grid.polygon]
        lat = float(where.get("lat", self.rng.uniform(min(lats), max(lats))))  # type: ignore[arg-type]
        lon = float(where.get("lon", self.rng.uniform(min(lons), max(lons))))  # type: ignore[arg-type]
        # Most reports arrive within minutes; a few are late, some beyond any grace.
        lag = self.rng.exponential(300.0) if self.rng.random() > 0.02 else self.rng.uniform(0, 5400)
        event_id = f"e{len(self.reports):07d}"
        code = where.get("code")
        self.reports.append(
            Report(
                event_id, at, at + timedelta(seconds=float(lag)), grid_id, category,
                code if isinstance(code, str) else None, lat, lon,
            )
        )  # fmt: skip
        return event_id

    def at_hours(self, day: int, hours: np.ndarray) -> list[datetime]:
        base = self.start + timedelta(days=day)
        return [base + timedelta(hours=float(h)) for h in hours]

    def background(self, days: int) -> None:
        weights = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 1.1
        weights *= REPORTS_PER_GRID_DAY / weights.sum()
        for grid in self.grids.values():
            size = grid.households / 400.0
            for day in range(days):
                weekend = 0.8 if (self.start + timedelta(days=day, hours=8)).weekday() >= 5 else 1.0
                lam = weights * size * weekend * self.rng.gamma(20.0, 1 / 20.0, len(CATEGORIES))
                for category, n in zip(CATEGORIES, self.rng.poisson(lam), strict=True):
                    hours = self.rng.choice(24, n, p=_HOURS) + self.rng.random(n)
                    for at in self.at_hours(day, hours):
                        self.report(grid.grid_id, category, at)

    def burst(self, day: int, grid_id: str, category: str) -> Injected:
        onset, span = self.rng.uniform(7, 14), self.rng.uniform(2, 12)
        hours = onset + np.sort(self.rng.uniform(0, span, self.rng.integers(8, 21)))
        ats = self.at_hours(day, hours)
        ids = tuple(self.report(grid_id, category, at) for at in ats)
        return Injected("burst", (grid_id,), category, ats[0], ats[-1], ids)

    def cluster(self, day: int, grid_ids: Sequence[str], category: str) -> Injected:
        onset = self.rng.uniform(6, 10)
        ats: list[datetime] = []
        ids: list[str] = []
        for grid_id in grid_ids:
            hours = onset + self.rng.uniform(0, 12, self.rng.integers(6, 13))
            for at in self.at_hours(day, hours):
                ats.append(at)
                ids.append(self.report(grid_id, category, at))
        return Injected("cluster", tuple(grid_ids), category, min(ats), max(ats), tuple(ids))

    def repeat(self, day: int, grid_id: str, category: str, with_code: bool) -> Injected:
        grid = self.grids[grid_id]
        lon, lat = grid.centre
        n = int(self.rng.integers(3, 6))
        hours = np.sort(self.rng.uniform(0, 24 * self.rng.uniform(1, 5), n))
        ats = self.at_hours(day, hours)
        code = f"R-{grid_id}-{day}" if with_code else None
        ids = tuple(
            self.report(grid_id, category, at, code=code, lat=lat + j * 1e-4, lon=lon)
            for j, at in enumerate(ats)
        )
        return Injected("repeat", (grid_id,), category, ats[2], ats[-1], ids)


def synth(
    grids: Sequence[Grid],
    seed: int,
    start: datetime,
    history_days: int,
    days: int,
    anomalies: bool,
) -> tuple[list[Report], list[Injected]]:
    """History (clean) then the evaluated days; reports in arrival order."""
    b = _Builder(grids, seed, start)
    b.background(history_days + days)
    injected: list[Injected] = []
    if anomalies:
        ids = sorted(b.grids)
        for k in range(24):
            day = history_days + 1 + int(b.rng.integers(0, days - 2))
            category = str(b.rng.choice(CATEGORIES[:20]))
            grid_id = str(b.rng.choice(ids))
            if k % 3 == 0:
                injected.append(b.burst(day, grid_id, category))
            elif k % 3 == 1:
                ring = [grid_id, *b.grids[grid_id].neighbours]
                members = ring[: int(b.rng.integers(3, 5))]
                injected.append(b.cluster(day, members, category))
            else:
                injected.append(b.repeat(day, grid_id, category, with_code=k % 2 == 0))
    b.reports.sort(key=lambda r: (r.arrives_at, r.event_id))
    return b.reports, injected


EVAL_START = datetime(2026, 3, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight, +08:00
