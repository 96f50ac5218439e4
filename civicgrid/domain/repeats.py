"""Repeat points (SPEC §5, §7): the same code, or the same category within 250 m,
reported 3 or more times in 7 days -- alerted once per point per 7 days."""

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from civicgrid.domain.alerts import RepeatPointAlert
from civicgrid.domain.geo import haversine_m

# Bucket edge in degrees; 0.005 deg is >= 420 m up to 40 deg latitude, so a
# point's 3 x 3 buckets hold everything within a 250 m radius.
_CELL_DEG = 0.005


@dataclass(frozen=True, slots=True)
class _Report:
    event_id: str
    at: datetime
    grid_id: str
    category: str
    code: str | None
    lat: float | None
    lon: float | None


class RepeatPoints:
    def __init__(
        self,
        min_reports: int = 3,
        span: timedelta = timedelta(days=7),
        radius_m: float = 250.0,
    ) -> None:
        self.min_reports = min_reports
        self.span = span
        self.radius_m = radius_m
        self._by_code: dict[str, deque[_Report]] = defaultdict(deque)
        self._by_cell: dict[tuple[str, int, int], deque[_Report]] = defaultdict(deque)
        self._alerted: deque[_Report] = deque()  # the report that triggered each alert

    def add(
        self,
        event_id: str,
        occurred_at: datetime,
        grid_id: str,
        category: str,
        code: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> RepeatPointAlert | None:
        """Record one report; return an alert when it makes its point a repeat point."""
        report = _Report(event_id, occurred_at, grid_id, category, code, lat, lon)
        if code is not None:
            self._by_code[code].append(report)
        if lat is not None and lon is not None:
            self._by_cell[self._cell(category, lat, lon)].append(report)
        if self._suppressed(report):
            return None
        rule, matches = "code", self._same_code(report) if code is not None else []
        if len(matches) < self.min_reports and lat is not None and lon is not None:
            rule, matches = "location", self._nearby(category, lat, lon, occurred_at)
        if len(matches) < self.min_reports:
            return None
        self._alerted.append(report)
        return self._alert(report, matches, rule)

    @staticmethod
    def _cell(category: str, lat: float, lon: float) -> tuple[str, int, int]:
        return (category, math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG))

    def _recent(self, reports: deque[_Report], now: datetime) -> list[_Report]:
        # Events arrive roughly in order; pruning from the left keeps the deques
        # short while the time test below keeps late arrivals correct.
        while reports and reports[0].at < now - 2 * self.span:
            reports.popleft()
        return [r for r in reports if abs(r.at - now) <= self.span and r.at <= now]

    def _close(self, a: _Report, b: _Report) -> bool:
        if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
            return False
        return haversine_m(a.lat, a.lon, b.lat, b.lon) <= self.radius_m

    def _same_code(self, report: _Report) -> list[_Report]:
        assert report.code is not None
        return self._recent(self._by_code[report.code], report.at)

    def _nearby(self, category: str, lat: float, lon: float, now: datetime) -> list[_Report]:
        _, row, col = self._cell(category, lat, lon)
        found: list[_Report] = []
        for cell_row in (row - 1, row, row + 1):
            for cell_col in (col - 1, col, col + 1):
                cell = self._by_cell.get((category, cell_row, cell_col))
                if cell:
                    found.extend(
                        r
                        for r in self._recent(cell, now)
                        if r.lat is not None
                        and r.lon is not None
                        and haversine_m(lat, lon, r.lat, r.lon) <= self.radius_m
                    )
        return found

    def _suppressed(self, report: _Report) -> bool:
        while self._alerted and self._alerted[0].at < report.at - 2 * self.span:
            self._alerted.popleft()
        return any(
            abs(report.at - old.at) <= self.span
            and (
                (report.code is not None and report.code == old.code)
                or (report.category == old.category and self._close(report, old))
            )
            for old in self._alerted
        )

    def _alert(self, report: _Report, matches: list[_Report], rule: str) -> RepeatPointAlert:
        ordered = sorted(matches, key=lambda r: (r.at, r.event_id))
        grids = [report.grid_id, *(r.grid_id for r in ordered if r.grid_id != report.grid_id)]
        return RepeatPointAlert(
            grid_ids=tuple(dict.fromkeys(grids)),
            category=report.category,
            observed=float(len(ordered)),
            expected=float(self.min_reports),
            score=len(ordered) / self.min_reports,
            window_start=report.at - self.span,
            window_end=report.at,
            code=report.code,
            rule=rule,
            event_ids=tuple(r.event_id for r in ordered),
        )
