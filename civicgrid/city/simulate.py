"""A pure, deterministic load generator that behaves like the city (SPEC §2 inbound topics).

`CitySimulator.events(rate, duration_s)` yields `SimEvent`s in order of their real-time offset;
`occurred_at` is simulated time: the run's start plus the offset times the acceleration.
"""

import heapq
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from civicgrid.city.anomalies import Anomaly, write_ground_truth
from civicgrid.city.mix import (
    CATEGORY_KINDS,
    CATEGORY_WEIGHTS,
    EVENTS_PER_OCCASION,
    OCCASION_WEIGHTS,
    OCCASIONS,
    SCAN_CHANNEL_SHARE,
)
from civicgrid.city.model import City, Code, Grid
from civicgrid.city.phrases import describe

_CHANNELS = ("scan", "app", "hotline")
_CHANNEL_WEIGHTS = (SCAN_CHANNEL_SHARE, 0.2, 0.1)
_OUT_OF_GRID_SHARE = 0.03  # workers scanning outside their grid, which SPEC §8 audits
_RESEND_SHARE = 0.005  # apps retry: the same event_id arrives twice
_MARGIN = 1e-5  # degrees, about a metre


class SimEvent(NamedTuple):
    offset_s: float
    """Real seconds from the start of the run."""
    topic: str
    key: str | None
    """None for a report placed only by lat/lon: it has neither code nor grid_id to key by."""
    value: dict[str, Any]


class CitySimulator:
    def __init__(
        self,
        city: City,
        seed: int,
        start: datetime,
        acceleration: float = 1.0,
        anomalies: Iterable[Anomaly] = (),
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must carry its UTC offset (Taizhou is +08:00)")
        self.city, self.seed, self.start = city, seed, start
        self.acceleration = acceleration
        self.anomalies = tuple(anomalies)
        self._cum_households = list(_cumulative(g.households for g in city.grids))
        self._categories = list(CATEGORY_WEIGHTS)
        self._cum_categories = list(_cumulative(CATEGORY_WEIGHTS.values()))
        self._codes_of = lru_cache(maxsize=2048)(self._codes_by_kind)

    def sim_time(self, offset_s: float) -> datetime:
        return self.start + timedelta(seconds=offset_s * self.acceleration)

    def write_ground_truth(self, path: Path | str) -> None:
        write_ground_truth(path, self.anomalies)

    def events(self, rate: float, duration_s: float) -> Iterator[SimEvent]:
        """About `rate` events per real second for `duration_s`, plus the anomalies' reports."""
        rng = random.Random(f"{self.seed}/events")
        background = self._background(rng, rate / EVENTS_PER_OCCASION, duration_s)
        injected = self._injected(random.Random(f"{self.seed}/injected"), duration_s)
        for event in heapq.merge(background, injected, key=lambda e: e.offset_s):
            yield event
            if rng.random() < _RESEND_SHARE:
                yield event

    def _background(self, rng: random.Random, rate: float, duration_s: float) -> Iterator[SimEvent]:
        offset = rng.expovariate(rate)
        while offset < duration_s:
            grid = rng.choices(self.city.grids, cum_weights=self._cum_households)[0]
            occasion = rng.choices(OCCASIONS, OCCASION_WEIGHTS)[0]
            if occasion in ("resident_report", "worker_report"):
                category = rng.choices(self._categories, cum_weights=self._cum_categories)[0]
                role = "resident" if occasion == "resident_report" else "grid_worker"
                yield from self._report(rng, offset, grid, category, role)
            elif occasion in ("patrol", "visit"):
                yield self._patrol(rng, offset, grid, occasion)
            else:
                yield self._scan(rng, offset, grid)
            offset += rng.expovariate(rate)

    def _injected(self, rng: random.Random, duration_s: float) -> Iterator[SimEvent]:
        planned: list[tuple[float, Grid, Anomaly]] = []
        for anomaly in self.anomalies:
            first = (anomaly.start - self.start).total_seconds() / self.acceleration
            last = (anomaly.end - self.start).total_seconds() / self.acceleration
            for grid_id in anomaly.grid_ids:
                for _ in range(anomaly.count):
                    planned.append((rng.uniform(first, last), self.city.grid(grid_id), anomaly))
        planned.sort(key=lambda p: p[0])
        for offset, grid, anomaly in planned:
            if 0 <= offset < duration_s:
                code = None if anomaly.code is None else self._code(anomaly.code, grid)
                yield from self._report(rng, offset, grid, anomaly.category, "resident", code)

    def _report(
        self,
        rng: random.Random,
        offset: float,
        grid: Grid,
        category: str,
        role: str,
        code: Code | None = None,
    ) -> Iterator[SimEvent]:
        value = self._header(rng, offset)
        if role == "resident":
            reporter = f"R-{rng.randrange(10**8):08d}"
            channel = "scan" if code else rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
        else:
            reporter, channel = rng.choice(grid.worker_ids), "patrol"
        if channel in ("scan", "patrol"):
            code = code or self._pick(rng, grid, CATEGORY_KINDS.get(category, "doorplate"))
        place = code.name if code else None
        value |= {"channel": channel, "description": describe(category, rng, place, role)}
        value |= {"reporter_id": reporter, "reporter_role": role}
        if code is not None:
            value |= {"code": code.code, "lat": code.lat, "lon": code.lon}
            if channel == "scan":
                yield SimEvent(offset, "civic.scans.v1", code.code, self._scan_value(
                    rng, offset, code, reporter, role, "report"))  # fmt: skip
        elif channel == "app":
            lon, lat = _point_in(rng, grid)
            value |= {"lat": lat, "lon": lon, "category_hint": category}
        if channel in ("hotline", "patrol"):
            value["grid_id"] = grid.grid_id
        if rng.random() < 0.4:
            value["photos"] = [_photo(rng) for _ in range(rng.randint(1, 3))]
        key = value.get("code") or value.get("grid_id")
        yield SimEvent(offset, "civic.reports.v1", key, value)

    def _patrol(self, rng: random.Random, offset: float, grid: Grid, occasion: str) -> SimEvent:
        worker = rng.choice(grid.worker_ids)
        value = self._header(rng, offset) | {"worker_id": worker, "grid_id": grid.grid_id}
        if occasion == "visit":
            household = rng.randint(1, grid.households)
            value |= {"kind": "visit", "household_id": f"H-{grid.grid_id}-{household:04d}"}
        else:
            value |= {"kind": rng.choices(("patrol", "rectify"), (9, 1))[0]}
            value["code"] = self._pick(rng, grid, rng.choice(list(self._codes(grid)))).code
        return SimEvent(offset, "civic.patrols.v1", worker, value)

    def _scan(self, rng: random.Random, offset: float, grid: Grid) -> SimEvent:
        purpose = rng.choices(("view", "patrol", "verify"), (10, 7, 3))[0]
        if purpose == "view":
            scanner, role = f"R-{rng.randrange(10**8):08d}", "resident"
        else:
            scanner, role = rng.choice(grid.worker_ids), "grid_worker"
            if rng.random() < _OUT_OF_GRID_SHARE:
                grid = self.city.grid(rng.choice(grid.neighbours))
        code = self._pick(rng, grid, rng.choice(list(self._codes(grid))))
        value = self._scan_value(rng, offset, code, scanner, role, purpose)
        return SimEvent(offset, "civic.scans.v1", code.code, value)

    def _scan_value(
        self, rng: random.Random, offset: float, code: Code, scanner: str, role: str, purpose: str
    ) -> dict[str, Any]:
        value = self._header(rng, offset) | {"code": code.code, "scanner_id": scanner}
        value |= {"scanner_role": role, "purpose": purpose, "lat": code.lat, "lon": code.lon}
        return value

    def _header(self, rng: random.Random, offset: float) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": self.sim_time(offset).isoformat(timespec="milliseconds"),
            "schema_version": 1,
        }

    def _pick(self, rng: random.Random, grid: Grid, kind: str) -> Code:
        by_kind = self._codes(grid)
        return rng.choice(by_kind.get(kind) or by_kind["doorplate"])

    def _code(self, code: str, grid: Grid) -> Code:
        return next(c for codes in self._codes(grid).values() for c in codes if c.code == code)

    def _codes(self, grid: Grid) -> dict[str, list[Code]]:
        return self._codes_of(grid.grid_id)

    def _codes_by_kind(self, grid_id: str) -> dict[str, list[Code]]:
        by_kind: dict[str, list[Code]] = {}
        for code in self.city.iter_codes([grid_id]):
            by_kind.setdefault(code.kind, []).append(code)
        return by_kind


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _point_in(rng: random.Random, grid: Grid) -> tuple[float, float]:
    (west, south), (east, north) = grid.polygon[0], grid.polygon[2]
    # Kept off the border so the point's grid is unambiguous after rounding.
    lon = rng.uniform(west + _MARGIN, east - _MARGIN)
    return round(lon, 6), round(rng.uniform(south + _MARGIN, north - _MARGIN), 6)


def _photo(rng: random.Random) -> str:
    return f"https://oss.civicgrid.example/photos/{rng.getrandbits(64):016x}.jpg"
