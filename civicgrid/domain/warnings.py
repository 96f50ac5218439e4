"""Rate anomalies and clusters over grid x category window counts (SPEC §7).

``EarlyWarning`` is fed events, closes event-time windows, scores every known
series against its ``SeriesBaseline`` and alerts once per anomaly episode: a
series over threshold in consecutive windows is one episode, alerted in its
first window. Neighbouring grids over threshold on the same category in the
same window form one cluster alert, again once per episode.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from civicgrid.domain.alerts import Alert, ClusterAlert, RateAnomaly
from civicgrid.domain.baseline import BaselineConfig, SeriesBaseline
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
        over, elevated = self._score_window(windows)
        alerts: list[Alert] = [a for a in over if (a.grid_id, a.category) not in self._active]
        self._active = {(a.grid_id, a.category) for a in over}
        if neighbours is not None:
            alerts.extend(self._new_clusters(over, elevated, neighbours))
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
    ) -> tuple[list[RateAnomaly], list[RateAnomaly]]:
        """Series over ``z``, and those over ``cluster_z`` but not ``z``."""
        over: list[RateAnomaly] = []
        elevated: list[RateAnomaly] = []
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
            elif baseline.is_anomalous(w.count, season, self.config.cluster_z):
                elevated.append(self._anomaly(w, baseline, self.config.cluster_z))
            baseline.update(w.count, season)
        self.windows_closed += 1
        return over, elevated

    def _new_clusters(
        self,
        over: Sequence[RateAnomaly],
        elevated: Sequence[RateAnomaly],
        neighbours: Mapping[str, Sequence[str]],
    ) -> list[ClusterAlert]:
        # A cluster needs one grid over the full threshold; its neighbours join
        # over the lower one. A component touching one of the previous window
        # continues its episode; singletons count too, so a cluster that thins
        # out for one window and regrows is not alerted again.
        leaders = {(a.grid_id, a.category) for a in over}
        current: dict[str, list[frozenset[str]]] = defaultdict(list)
        fresh: list[ClusterAlert] = []
        for component in _components([*over, *elevated], neighbours):
            grids = frozenset(a.grid_id for a in component)
            category = component[0].category
            current[category].append(grids)
            led = any((a.grid_id, a.category) in leaders for a in component)
            previous = self._clusters.get(category, [])
            if led and len(component) > 1 and not any(grids & old for old in previous):
                fresh.append(_cluster(component))
        self._clusters = dict(current)
        return fresh

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
