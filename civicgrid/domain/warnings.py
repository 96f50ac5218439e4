"""Rate anomalies and clusters over grid x category window counts (SPEC §7).

``EarlyWarning`` is fed events, closes event-time windows, scores every known
series against its ``SeriesBaseline`` and alerts once per anomaly episode: a
series over threshold in consecutive windows is one episode, alerted in its
first window.

Clusters are found by a scan statistic: around each grid with at least
``MIN_MEMBER_REPORTS`` reports and more than expected, the grid plus 1, 2, ... of its
neighbours that also have them, largest excess first, is judged by its summed count
against its summed expectation at ``cluster_z``; each centre keeps its best-scoring zone,
and overlapping zones of one category yield only the best one. No single grid has to
clear its own threshold. A cluster is alerted once per episode, naming its member grids;
a member's own rate anomaly in that window is folded into the cluster (one matter for
the network, not one per grid) and stays in its episode.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from civicgrid.domain.alerts import Alert, ClusterAlert, RateAnomaly
from civicgrid.domain.baseline import BaselineConfig, SeriesBaseline, count_threshold
from civicgrid.domain.repeats import RepeatPoints
from civicgrid.domain.windows import ClosedWindow, Series, WindowCounter

__all__ = ["MIN_MEMBER_REPORTS", "EarlyWarning", "RepeatPoints", "cluster_of"]

MIN_MEMBER_REPORTS = 2
"""Reports a grid needs in the window to be a cluster member. At the usual expectation of a
few tenths of a report per grid-day, a single report is what chance gives some grid of
every neighbourhood each day; zones padded with such grids cleared the bar on chance alone
and named grids the anomaly never touched. A minimum of 3 cut false clusters but missed the
simulator's clusters, whose members often have 2 reports once the classifier has split them
(docs/prediction.md: the zone-size term of the bar does better)."""


def _components(
    anomalies: Sequence[RateAnomaly], neighbours: Mapping[str, Sequence[str]]
) -> list[list[RateAnomaly]]:
    """Connected components of alerting grids, per (category, window).

    Adjacency counts in either direction: the grid records of two neighbours
    may disagree while one of them is being updated.
    """
    groups: dict[tuple[str, datetime], dict[str, RateAnomaly]] = defaultdict(dict)
    for anomaly in anomalies:
        groups[(anomaly.category, anomaly.window_start)][anomaly.grid_id] = anomaly
    components: list[list[RateAnomaly]] = []
    for members in groups.values():
        adjacent: dict[str, set[str]] = {grid: set() for grid in members}
        for grid in members:
            for other in neighbours.get(grid, ()):
                if other in members and other != grid:
                    adjacent[grid].add(other)
                    adjacent[other].add(grid)
        seen: set[str] = set()
        for root in sorted(members):
            if root in seen:
                continue
            stack, component = [root], []
            seen.add(root)
            while stack:
                grid = stack.pop()
                component.append(members[grid])
                for other in adjacent[grid] - seen:
                    seen.add(other)
                    stack.append(other)
            components.append(component)
    return components


def _cluster(component: Sequence[RateAnomaly]) -> ClusterAlert:
    ordered = sorted(component, key=lambda a: (-a.score, a.grid_id))
    first = ordered[0]
    return ClusterAlert(
        grid_ids=tuple(a.grid_id for a in ordered),
        category=first.category,
        observed=sum(a.observed for a in ordered),
        expected=sum(a.expected for a in ordered),
        score=first.score,
        window_start=first.window_start,
        window_end=first.window_end,
    )


def cluster_of(
    anomalies: Sequence[RateAnomaly], neighbours: Mapping[str, Sequence[str]]
) -> list[ClusterAlert]:
    """One alert per group of 2+ neighbouring grids alerting on one category in one window.

    The strongest grid is named first.
    """
    return [_cluster(c) for c in _components(anomalies, neighbours) if len(c) > 1]


@dataclass(frozen=True, slots=True)
class _Cell:
    """One grid's count of a category in the scored window, with its baseline's view."""

    count: int
    expected: float
    variance: float
    window_start: datetime
    window_end: datetime


def _zone_alert(
    category: str, grids: frozenset[str], score: float, cells: Mapping[str, _Cell]
) -> ClusterAlert:
    ordered = sorted(grids, key=lambda g: (-cells[g].count, g))
    first = cells[ordered[0]]
    return ClusterAlert(
        grid_ids=tuple(ordered),
        category=category,
        observed=float(sum(cells[g].count for g in ordered)),
        expected=sum(cells[g].expected for g in ordered),
        score=score,
        window_start=first.window_start,
        window_end=first.window_end,
    )


class EarlyWarning:
    def __init__(
        self,
        config: BaselineConfig,
        window: timedelta,
        grace: timedelta = timedelta(0),
        utc_offset: timedelta = timedelta(hours=8),
    ) -> None:
        """``config.seasons`` 24 means hour-of-day seasons, 7 day-of-week, 1 none."""
        if config.seasons not in (1, 7, 24):
            raise ValueError("seasons must be 1, 7 (day of week) or 24 (hour of day)")
        self.config = config
        self.counter = WindowCounter(window, grace, utc_offset)
        self.baselines: dict[Series, SeriesBaseline] = {}
        self.windows_closed = 0
        self._active: set[Series] = set()
        self._clusters: dict[str, list[frozenset[str]]] = {}

    def add(self, grid_id: str, category: str, occurred_at: datetime) -> None:
        self.counter.add(grid_id, category, occurred_at)

    def season(self, window_start: datetime) -> int:
        local = window_start + self.counter.utc_offset
        if self.config.seasons == 24:
            return local.hour
        return local.weekday() if self.config.seasons == 7 else 0

    def close_until(
        self,
        watermark: datetime | None = None,
        neighbours: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Alert]:
        """Close due windows; return new rate anomalies and, given ``neighbours``, clusters."""
        alerts: list[Alert] = []
        by_window: dict[datetime, list[ClosedWindow]] = defaultdict(list)
        for closed in self.counter.close_until(watermark):
            by_window[closed.window_start].append(closed)
        for windows in by_window.values():
            alerts.extend(self.score_window(windows, neighbours))
        return alerts

    def score_window(
        self,
        windows: Sequence[ClosedWindow],
        neighbours: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Alert]:
        """Score one closed window (every known series' count in it) and learn from it.

        For a caller that counts elsewhere (the stream keeps its counts in Postgres);
        windows must come oldest first, each once.
        """
        over, raised = self._score_window(windows)
        clusters: list[ClusterAlert] = []
        folded: set[Series] = set()
        if neighbours is not None:
            clusters, folded = self._new_clusters(raised, neighbours)
        alerts: list[Alert] = [
            a
            for a in over
            if (a.grid_id, a.category) not in self._active and (a.grid_id, a.category) not in folded
        ]
        self._active = {(a.grid_id, a.category) for a in over}
        alerts.extend(clusters)
        return alerts

    def _anomaly(self, w: ClosedWindow, baseline: SeriesBaseline, z: float) -> RateAnomaly:
        season = self.season(w.window_start)
        return RateAnomaly(
            grid_ids=(w.grid_id,),
            category=w.category,
            observed=float(w.count),
            expected=baseline.expected(season),
            score=baseline.score(w.count, season),
            window_start=w.window_start,
            window_end=w.window_end,
            threshold=baseline.threshold(season, z),
        )

    def _score_window(
        self, windows: Iterable[ClosedWindow]
    ) -> tuple[list[RateAnomaly], dict[str, dict[str, _Cell]]]:
        """Series over ``z``, and per category the grids with more reports than expected."""
        over: list[RateAnomaly] = []
        raised: dict[str, dict[str, _Cell]] = defaultdict(dict)
        for w in windows:
            series = (w.grid_id, w.category)
            baseline = self.baselines.get(series)
            if baseline is None:
                # A series first seen now was silent in every window closed before.
                baseline = SeriesBaseline(self.config, prior_zero_windows=self.windows_closed)
                self.baselines[series] = baseline
            season = self.season(w.window_start)
            if baseline.is_anomalous(w.count, season):
                over.append(self._anomaly(w, baseline, self.config.z))
            expected = baseline.expected(season)
            if baseline.warmed_up and w.count > expected:
                raised[w.category][w.grid_id] = _Cell(
                    w.count, expected, baseline.variance(season), w.window_start, w.window_end
                )
            baseline.update(w.count, season)
        self.windows_closed += 1
        return over, raised

    def _zone(self, cells: Mapping[str, _Cell], grids: Sequence[str]) -> float | None:
        """The zone's score if its summed count clears its bar, else None: ``cluster_z``
        for two grids, ``cluster_z_per_grid`` more for each grid past two."""
        observed = sum(cells[g].count for g in grids)
        expected = sum(cells[g].expected for g in grids)
        variance = sum(cells[g].variance for g in grids)
        sigma = max(math.sqrt(variance), math.sqrt(expected), self.config.min_sigma)
        bar = self.config.cluster_z + self.config.cluster_z_per_grid * max(0, len(grids) - 2)
        if observed <= count_threshold(expected, sigma, bar):
            return None
        return (observed - expected) / sigma

    def _best_zone(
        self, centre: str, cells: Mapping[str, _Cell], neighbours: Mapping[str, Sequence[str]]
    ) -> tuple[frozenset[str], float] | None:
        """The best zone around ``centre``: it and its 1, 2, ... largest-excess neighbours.

        Adjacency counts in either direction: the grid records of two neighbours may
        disagree while one of them is being updated.
        """
        around = {*neighbours.get(centre, ())} | {
            g for g in cells if centre in neighbours.get(g, ())
        }
        ranked = sorted(
            (g for g in around if g in cells and g != centre),
            key=lambda g: (-(cells[g].count - cells[g].expected), g),
        )
        best: tuple[frozenset[str], float] | None = None
        for k in range(1, len(ranked) + 1):
            score = self._zone(cells, [centre, *ranked[:k]])
            if score is not None and (best is None or score > best[1]):
                best = (frozenset((centre, *ranked[:k])), score)
        return best

    def _new_clusters(
        self, raised: Mapping[str, Mapping[str, _Cell]], neighbours: Mapping[str, Sequence[str]]
    ) -> tuple[list[ClusterAlert], set[Series]]:
        """New cluster alerts, and the series folded into any cluster of this window.

        Zones are taken best score first, each only if it shares no grid with one taken
        before: a union of overlapping zones grew into a ring of grids around the anomaly.
        A cluster touching one of the previous window continues its episode and is not
        alerted again.
        """
        current: dict[str, list[frozenset[str]]] = {}
        fresh: list[ClusterAlert] = []
        folded: set[Series] = set()
        for category, raised_cells in sorted(raised.items()):
            cells = {g: c for g, c in raised_cells.items() if c.count >= MIN_MEMBER_REPORTS}
            zones = [
                z for centre in sorted(cells) if (z := self._best_zone(centre, cells, neighbours))
            ]
            taken: list[tuple[frozenset[str], float]] = []
            for grids, score in sorted(zones, key=lambda z: (-z[1], sorted(z[0]))):
                if not any(grids & other for other, _ in taken):
                    taken.append((grids, score))
            current[category] = [grids for grids, _ in taken]
            previous = self._clusters.get(category, [])
            for grids, score in taken:
                folded |= {(g, category) for g in grids}
                if not any(grids & old for old in previous):
                    fresh.append(_zone_alert(category, grids, score, cells))
        self._clusters = current
        return fresh, folded

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe detector state, minus the counts of still-open windows."""
        return {
            "windows_closed": self.windows_closed,
            "baselines": [[g, c, b.to_dict()] for (g, c), b in sorted(self.baselines.items())],
            "active": sorted([g, c] for g, c in self._active),
            "clusters": {c: [sorted(s) for s in sets] for c, sets in self._clusters.items()},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a ``to_dict`` state, e.g. after a restart."""
        self.windows_closed = int(state["windows_closed"])
        self.baselines = {
            (g, c): SeriesBaseline.from_dict(data, self.config) for g, c, data in state["baselines"]
        }
        self._active = {(g, c) for g, c in state["active"]}
        self._clusters = {c: [frozenset(s) for s in sets] for c, sets in state["clusters"].items()}
