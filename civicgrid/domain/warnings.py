"""Rate anomalies and clusters over grid x category window counts (SPEC §7).

``EarlyWarning`` is fed events, closes event-time windows, scores every known
series against its ``SeriesBaseline`` and alerts once per anomaly episode: a
series over threshold in consecutive windows is one episode, alerted in its
first window.

Clusters are found by a scan statistic: around each grid with more reports than
expected, the grid plus its neighbours that also have more, strongest first, is
judged by its summed count against its summed expectation at ``cluster_z``. No
single grid has to clear its own threshold. Overlapping neighbourhoods of one
category form one cluster alert naming every member grid, once per episode; a
member's own rate anomaly in that window is folded into the cluster (one matter
for the network, not one per grid) and stays in its episode.
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

__all__ = ["EarlyWarning", "RepeatPoints", "cluster_of"]


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


def _merge(zones: Sequence[tuple[frozenset[str], float]]) -> list[tuple[frozenset[str], float]]:
    """Union overlapping zones (one category, one window), keeping the best score."""
    merged: list[tuple[frozenset[str], float]] = []
    for grids, score in zones:
        for other in [m for m in merged if m[0] & grids]:
            merged.remove(other)
            grids, score = grids | other[0], max(score, other[1])
        merged.append((grids, score))
    return merged


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
        """The zone's score if its summed count clears ``cluster_z``, else None.

        The zone must not be one grid's doing: without its largest count it still has 2+
        reports, so a burst beside one stray report stays a rate anomaly.
        """
        counts = [cells[g].count for g in grids]
        observed, expected = sum(counts), sum(cells[g].expected for g in grids)
        if observed - max(counts) < 2:
            return None
        variance = sum(cells[g].variance for g in grids)
        sigma = max(math.sqrt(variance), math.sqrt(expected), self.config.min_sigma)
        if observed <= count_threshold(expected, sigma, self.config.cluster_z):
            return None
        return (observed - expected) / sigma

    def _new_clusters(
        self, raised: Mapping[str, Mapping[str, _Cell]], neighbours: Mapping[str, Sequence[str]]
    ) -> tuple[list[ClusterAlert], set[Series]]:
        """New cluster alerts, and the series folded into any cluster of this window.

        Around each raised grid, the zones are the grid plus its 1, 2, ... raised neighbours
        with the largest excess; overlapping zones that clear the bar merge. A cluster
        touching one of the previous window continues its episode and is not alerted again.
        """
        current: dict[str, list[frozenset[str]]] = {}
        fresh: list[ClusterAlert] = []
        folded: set[Series] = set()
        for category, cells in sorted(raised.items()):
            zones: list[tuple[frozenset[str], float]] = []
            for centre in sorted(cells):
                around = {*neighbours.get(centre, ())} | {
                    g for g in cells if centre in neighbours.get(g, ())
                }
                ranked = sorted(
                    (g for g in around if g in cells and g != centre),
                    key=lambda g: (-(cells[g].count - cells[g].expected), g),
                )
                scored = [
                    (frozenset((centre, *ranked[:k])), self._zone(cells, [centre, *ranked[:k]]))
                    for k in range(1, len(ranked) + 1)
                ]
                zones += [(zone, score) for zone, score in scored if score is not None]
            merged = _merge(zones)
            current[category] = [grids for grids, _ in merged]
            previous = self._clusters.get(category, [])
            for grids, score in merged:
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
