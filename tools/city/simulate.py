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

from civicgrid.topics import catalogue as topics
from tools.city.anomalies import Anomaly, write_ground_truth
from tools.city.mix import (
    CATEGORY_KINDS,
    CATEGORY_WEIGHTS,
    EVENTS_PER_OCCASION,
    OCCASION_WEIGHTS,
    OCCASIONS,
    SCAN_CHANNEL_SHARE,
    on_duty,
    worker_diligence,
)
from tools.city.model import City, Code, Grid
from tools.city.phrases import describe

_CHANNELS = ("scan", "app", "hotline")
_CHANNEL_WEIGHTS = (SCAN_CHANNEL_SHARE, 0.2, 0.1)
_OUT_OF_GRID_SHARE = 0.03  # workers scanning outside their grid, which SPEC §8 audits
_RESEND_SHARE = 0.005  # apps retry: the same event_id arrives twice
_MARGIN = 1e-5  # degrees, about a metre
# A resident's report is of a matter a worker of the grid reported in the last few hours this
# often, when there is one: it joins the worker's case (the worker found it first).
_SAME_MATTER_SHARE = 0.6
_SAME_MATTER_WITHIN_S = 6 * 3600.0  # simulated seconds


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
        rounds = _Rounds(self.seed)
        offset = rng.expovariate(rate)
        while offset < duration_s:
            grid = rng.choices(self.city.grids, cum_weights=self._cum_households)[0]
            occasion = rng.choices(OCCASIONS, OCCASION_WEIGHTS)[0]
            worker = rng.choice(grid.worker_ids)
            at = self.sim_time(offset)
            if occasion in ("worker_report", "patrol", "visit") and not (
                on_duty(at) and rng.random() < worker_diligence(self.seed, worker)
            ):
                occasion = "view"  # the worker is off, or idle: a resident looks a code up
            if occasion == "resident_report":
                found = rounds.found_first(rng, grid.grid_id, offset * self.acceleration)
                if found is None:
                    category = rng.choices(self._categories, cum_weights=self._cum_categories)[0]
                    yield from self._report(rng, offset, grid, category, "resident")
                else:
                    yield from self._report(rng, offset, grid, found[1], "resident", found[0])
            elif occasion == "worker_report":
                category = rng.choices(self._categories, cum_weights=self._cum_categories)[0]
                code = self._pick(rng, grid, CATEGORY_KINDS.get(category, "doorplate"))
                rounds.reported(grid.grid_id, offset * self.acceleration, code, category)
                yield from self._report(rng, offset, grid, category, "grid_worker", code, worker)
            elif occasion == "patrol":
                yield self._round(
                    rng, offset, grid, worker, rounds.next_code(rng, worker, self._codes(grid))
                )
            elif occasion == "visit":
                yield self._visit(rng, offset, grid, worker, rounds.next_household(rng, worker))
            else:
                yield self._scan(rng, offset, grid, occasion == "view")
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
        worker: str | None = None,
    ) -> Iterator[SimEvent]:
        value = self._header(rng, offset)
        if role == "resident":
            reporter = f"R-{rng.randrange(10**8):08d}"
            channel = "scan" if code else rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
        else:
            reporter, channel = worker or rng.choice(grid.worker_ids), "patrol"
        if channel in ("scan", "patrol"):
            code = code or self._pick(rng, grid, CATEGORY_KINDS.get(category, "doorplate"))
        place = code.name if code else None
        value |= {"channel": channel, "description": describe(category, rng, place, role)}
        value |= {"reporter_id": reporter, "reporter_role": role}
        if code is not None:
            value |= {"code": code.code, "lat": code.lat, "lon": code.lon}
            if channel == "scan":
                yield SimEvent(offset, topics.SCANS.name, code.code, self._scan_value(
                    rng, offset, code, reporter, role, "report"))  # fmt: skip
        elif channel == "app":
            lon, lat = _point_in(rng, grid)
            value |= {"lat": lat, "lon": lon, "category_hint": category}
        if channel in ("hotline", "patrol"):
            value["grid_id"] = grid.grid_id
        if rng.random() < 0.4:
            value["photos"] = [_photo(rng) for _ in range(rng.randint(1, 3))]
        key = value.get("code") or value.get("grid_id")
        yield SimEvent(offset, topics.REPORTS.name, key, value)

    def _round(
        self, rng: random.Random, offset: float, grid: Grid, worker: str, code: Code
    ) -> SimEvent:
        """The next code of a worker's patrol route: scanned, or recorded as a patrol stop."""
        if rng.random() < 0.7:
            value = self._scan_value(rng, offset, code, worker, "grid_worker", "patrol")
            return SimEvent(offset, topics.SCANS.name, code.code, value)
        value = self._header(rng, offset) | {"worker_id": worker, "grid_id": grid.grid_id}
        value |= {"kind": rng.choices(("patrol", "rectify"), (9, 1))[0], "code": code.code}
        return SimEvent(offset, topics.PATROLS.name, worker, value)

    def _visit(
        self, rng: random.Random, offset: float, grid: Grid, worker: str, household: int
    ) -> SimEvent:
        value = self._header(rng, offset) | {"worker_id": worker, "grid_id": grid.grid_id}
        household_id = f"H-{grid.grid_id}-{household % grid.households + 1:04d}"
        value |= {"kind": "visit", "household_id": household_id}
        return SimEvent(offset, topics.PATROLS.name, worker, value)

    def _scan(self, rng: random.Random, offset: float, grid: Grid, view: bool) -> SimEvent:
        """A resident viewing a code, or a worker's ad-hoc scan (now and then outside the grid)."""
        purpose = "view" if view else rng.choices(("view", "patrol", "verify"), (10, 7, 3))[0]
        if purpose == "view":
            scanner, role = f"R-{rng.randrange(10**8):08d}", "resident"
        else:
            scanner, role = rng.choice(grid.worker_ids), "grid_worker"
            if rng.random() < _OUT_OF_GRID_SHARE:
                grid = self.city.grid(rng.choice(grid.neighbours))
        code = self._pick(rng, grid, rng.choice(list(self._codes(grid))))
        value = self._scan_value(rng, offset, code, scanner, role, purpose)
        return SimEvent(offset, topics.SCANS.name, code.code, value)

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


class _Rounds:
    """Where each worker's fieldwork has got to in one `events` run.

    A worker walks a route through all the grid's codes in an order of their own, one code an
    occasion, and visits the grid's households in turn from a place of their own, so their
    coverage grows with the work they do. Their reports are remembered for a while: a resident
    may report the same matter later, joining the worker's case."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.routes: dict[str, list[Code]] = {}
        self.steps: dict[str, int] = {}
        self.households: dict[str, int] = {}
        self.recent: dict[str, list[tuple[float, Code, str]]] = {}

    def next_code(self, rng: random.Random, worker: str, codes: dict[str, list[Code]]) -> Code:
        if worker not in self.routes:
            route = sorted((c for by_kind in codes.values() for c in by_kind), key=_code_of)
            random.Random(f"{self.seed}/route/{worker}").shuffle(route)
            self.routes[worker] = route
            self.steps[worker] = rng.randrange(len(route))
        route = self.routes[worker]
        self.steps[worker] += 1
        return route[self.steps[worker] % len(route)]

    def next_household(self, rng: random.Random, worker: str) -> int:
        self.households[worker] = self.households.get(worker, rng.randrange(10_000)) + 1
        return self.households[worker]

    def reported(self, grid_id: str, sim_s: float, code: Code, category: str) -> None:
        self.recent.setdefault(grid_id, []).append((sim_s, code, category))

    def found_first(
        self, rng: random.Random, grid_id: str, sim_s: float
    ) -> tuple[Code, str] | None:
        """A matter a worker of the grid reported lately that a resident now reports too."""
        recent = [r for r in self.recent.get(grid_id, ()) if sim_s - r[0] <= _SAME_MATTER_WITHIN_S]
        self.recent[grid_id] = recent
        if not recent or rng.random() >= _SAME_MATTER_SHARE:
            return None
        _, code, category = recent.pop(rng.randrange(len(recent)))
        return code, category


def _code_of(code: Code) -> str:
    return code.code


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
