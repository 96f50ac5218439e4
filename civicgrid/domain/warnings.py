"""Rate anomalies and clusters over grid x category window counts (SPEC §7).

``EarlyWarning`` is fed events, closes event-time windows, scores every known
series against its ``SeriesBaseline`` and alerts once per anomaly episode: a
series over threshold in consecutive windows is one episode, alerted in its
first window. It alerts as soon as the window's running count clears the bar the
whole window would have to clear (``open_alerts``), not only once it has closed.

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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from civicgrid.domain.alerts import Alert, ClusterAlert, RateAnomaly
from civicgrid.domain.baseline import (
    DISPERSION_WINDOWS,
    BaselineConfig,
    Dispersion,
    Pool,
    SeriesBaseline,
    WeekdayProfile,
    citywide_lift,
    count_threshold,
)
from civicgrid.domain.repeats import RepeatPoints
from civicgrid.domain.windows import Series, WindowCount, WindowCounter
from civicgrid.schemas.enums import AlertKind

__all__ = ["MIN_MEMBER_REPORTS", "EarlyWarning", "RepeatPoints", "cluster_of"]

ALL_CATEGORIES = "*"
"""The key of the city's day-of-week profile, every category together."""

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


@dataclass(slots=True)
class _Raised:
    """What the window still counting has already alerted, so each is alerted once in it."""

    window_start: datetime | None
    rates: set[Series] = field(default_factory=set)
    clusters: dict[str, list[frozenset[str]]] = field(default_factory=dict)

    def cluster_grids(self, category: str) -> list[frozenset[str]]:
        return self.clusters.get(category, [])


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
        self._raised: _Raised | None = None
        self.weekdays: dict[str, WeekdayProfile] = {}
        self.dispersions: dict[str, Dispersion] = {}
        self.pool = Pool()

    def add(self, grid_id: str, category: str, occurred_at: datetime) -> None:
        self.counter.add(grid_id, category, occurred_at)

    def weekday(self, window_start: datetime) -> int:
        return (window_start + self.counter.utc_offset).weekday()

    def factor(self, category: str, window_start: datetime) -> float:
        """The category's learnt day-of-week factor for the window, shrunk toward the city's
        (1 without a profile)."""
        weekday = self.weekday(window_start)
        city = self.weekdays.get(ALL_CATEGORIES)
        target = 1.0 if city is None else city.factor(weekday)
        profile = self.weekdays.get(category)
        return target if profile is None else profile.factor(weekday, target)

    def factors(
        self, windows: Sequence[WindowCount], dispersion: Mapping[str, float]
    ) -> dict[Series, tuple[float, float, float]]:
        """Per series of ``windows`` (all of one window), the factor its level is judged by,
        the one it learns by, and the error variance of its expectation: the day-of-week
        factor times the category's city-wide lift (both), times the series' pooled
        shrinkage (judged only: the series keeps learning its own level); the error is the
        pooled level's (``Pool.posterior``) with ``pooled_levels``, else 0."""
        out: dict[Series, tuple[float, float, float]] = {}
        if not windows:
            return out
        start = windows[0].window_start
        week = {c: self.factor(c, start) for c in {w.category for w in windows}}
        shrink: dict[Series, float] = {}
        error: dict[Series, float] = {}
        cells: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for w in windows:
            series = (w.grid_id, w.category)
            baseline = self.baselines.get(series)
            error[series] = 0.0
            if baseline is None or baseline.level <= 0 or not self.config.pooled_levels:
                shrink[series] = 1.0
            else:
                phi = dispersion.get(w.category, 0.0)
                pooled, error[series] = self.pool.posterior(w.grid_id, w.category, baseline, phi)
                shrink[series] = pooled / baseline.level
            if baseline is not None and baseline.warmed_up:
                level = baseline.level * shrink[series] * week[w.category]
                cells[w.category].append((float(w.count), level))
        lift: dict[str, float] = {}
        for category, factor in week.items():
            total = self.pool.expected.get(category, 0.0) * factor
            lift[category] = citywide_lift(
                cells.get(category, []), total, self.config.citywide_prior
            )
        for w in windows:
            series = (w.grid_id, w.category)
            learn = week[w.category] * lift[w.category]
            out[series] = (learn * shrink[series], learn, error[series] * learn * learn)
        return out

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
        by_window: dict[datetime, list[WindowCount]] = defaultdict(list)
        for closed in self.counter.close_until(watermark):
            by_window[closed.window_start].append(closed)
        for windows in by_window.values():
            alerts.extend(self.score_window(windows, neighbours))
        return alerts

    def check_open(
        self,
        neighbours: Mapping[str, Sequence[str]] | None = None,
        categories: Collection[str] | None = None,
    ) -> list[Alert]:
        """``open_alerts`` of the counter's oldest open window, of ``categories`` (default:
        all): only a category with a new report can have earned an alert since the last
        check."""
        return self.open_alerts(self.counter.open_counts(categories), neighbours)

    def open_alerts(
        self,
        windows: Sequence[WindowCount],
        neighbours: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Alert]:
        """Alerts the window still counting has earned already, before it closes.

        ``windows`` are counts so far, all of the next window to be scored (series without
        reports may be left out). Its baselines move only when it is scored and its counts
        only grow, so a series over its threshold now, or a zone over its bar now, is over
        it at close as well: alerting now changes when, not whether. Each is alerted once
        per window, not again here nor by ``score_window``. What is learnt is unchanged.
        """
        if not windows:
            return []
        raised = self._raised_in(windows[0].window_start)
        over, cells = self._judge(windows)
        zones = self._zones(cells, neighbours) if neighbours is not None else {}
        return self._fresh(over, zones, cells, raised)

    def mark_raised(
        self, window_start: datetime, kind: AlertKind, grid_ids: Sequence[str], category: str
    ) -> None:
        """Record an alert already raised early in the open window starting at
        ``window_start`` (the stream reads them back from its alerts table)."""
        raised = self._raised_in(window_start)
        if kind is AlertKind.CLUSTER:
            raised.clusters.setdefault(category, []).append(frozenset(grid_ids))
        elif kind is AlertKind.RATE_ANOMALY:
            raised.rates.add((grid_ids[0], category))

    def _raised_in(self, window_start: datetime | None) -> _Raised:
        if self._raised is None or self._raised.window_start != window_start:
            self._raised = _Raised(window_start)
        return self._raised

    def score_window(
        self,
        windows: Sequence[WindowCount],
        neighbours: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Alert]:
        """Score one closed window (every known series' count in it) and learn from it.

        For a caller that counts elsewhere (the stream keeps its counts in Postgres);
        windows must come oldest first, each once. What ``open_alerts`` raised in the
        window is not alerted again.
        """
        start = windows[0].window_start if windows else None
        raised = self._raised_in(start)
        over, cells = self._judge(windows)
        zones = self._zones(cells, neighbours) if neighbours is not None else {}
        alerts = self._fresh(over, zones, cells, raised)
        totals: dict[str, float] = defaultdict(float)
        spread: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        dispersion = self._dispersion()
        factors = self.factors(windows, dispersion)
        for w in windows:
            series = (w.grid_id, w.category)
            baseline = self.baselines.setdefault(series, self._baseline(series))
            season = self.season(w.window_start)
            factor, learn, error = factors[series]
            phi = self._series_dispersion(baseline, season, factor, error, dispersion, w.category)
            learnt = baseline.learnt(w.count, season, factor, phi)
            if baseline.warmed_up:  # a series in warm-up says little about its category's week
                # the week is learnt apart from the day's city-wide lift
                totals[w.category] += learnt * self.factor(w.category, w.window_start) / learn
            # its spread is learnt from the third window: judged against a mean of a few
            # windows, the spread comes out wide, as the next count's is around such a mean
            if baseline.windows_seen >= DISPERSION_WINDOWS and learnt == w.count:
                expected = baseline.expected(season, factor)
                spread[w.category].append((w.count, expected, error))
            baseline.learn(learnt / learn, season)
        if self.config.pooled_dispersion:
            for category, pairs in spread.items():
                self.dispersions.setdefault(category, Dispersion()).update(pairs)
        if self.config.weekday_prior > 0 and start is not None:
            if totals:
                totals[ALL_CATEGORIES] = sum(totals.values())
            for category, total in totals.items():
                profile = self.weekdays.setdefault(
                    category, WeekdayProfile(self.config.weekday_prior)
                )
                profile.update(self.weekday(start), total)
        if self.config.pooled_levels or self.config.citywide_prior > 0:
            self.pool = Pool.fit(self.baselines, self._dispersion())
        self.windows_closed += 1
        self._active = {(a.grid_id, a.category) for a in over}
        # a cluster raised early stays in the episode memory even if the scan over the whole
        # window prefers another zone, so the next window continues it instead of alerting
        self._clusters = {
            category: [grids for grids, _ in taken] for category, taken in zones.items()
        }
        for category, grids in raised.clusters.items():
            self._clusters.setdefault(category, []).extend(grids)
        self._raised = None
        return alerts

    def _fresh(
        self,
        over: Sequence[RateAnomaly],
        zones: Mapping[str, Sequence[tuple[frozenset[str], float]]],
        cells: Mapping[str, Mapping[str, _Cell]],
        raised: _Raised,
    ) -> list[Alert]:
        """The alerts not yet raised, recorded in ``raised``: a cluster not touching one of
        the previous window or one already raised in this window, a rate anomaly not
        continuing an episode and not folded into a cluster of this window."""
        clusters: list[ClusterAlert] = []
        folded: set[Series] = set()
        for category, taken in sorted(zones.items()):
            before = [*self._clusters.get(category, []), *raised.cluster_grids(category)]
            for grids, score in taken:
                folded |= {(g, category) for g in grids}
                if not any(grids & old for old in before):
                    clusters.append(_zone_alert(category, grids, score, cells[category]))
        for category, grid_sets in raised.clusters.items():
            folded |= {(g, category) for grids in grid_sets for g in grids}
        alerts: list[Alert] = []
        for anomaly in over:
            series = (anomaly.grid_id, anomaly.category)
            if series not in self._active | folded | raised.rates:
                alerts.append(anomaly)
                raised.rates.add(series)
        for cluster in clusters:
            raised.clusters.setdefault(cluster.category, []).append(frozenset(cluster.grid_ids))
        alerts.extend(clusters)
        return alerts

    def _baseline(self, series: Series) -> SeriesBaseline:
        """The series' baseline; a series first seen now was silent in every window closed
        before."""
        baseline = self.baselines.get(series)
        if baseline is None:
            return SeriesBaseline(self.config, prior_zero_windows=self.windows_closed)
        return baseline

    def _dispersion(self) -> dict[str, float]:
        """Per category, its learnt over-dispersion; empty unless ``pooled_dispersion``."""
        if not self.config.pooled_dispersion:
            return {}
        return {c: d.value for c, d in self.dispersions.items()}

    def _series_dispersion(
        self,
        baseline: SeriesBaseline,
        season: int,
        factor: float,
        error: float,
        dispersion: Mapping[str, float],
        category: str,
    ) -> float:
        """The over-dispersion of the series' next count around its expectation: its
        category's, plus its expectation's own error (``error / expected^2``), so the bar is
        the predictive one: wider for a young or lone series, narrower once it has settled.
        The error only counts once the category's dispersion is known."""
        phi = dispersion.get(category, 0.0)
        if phi <= 0 or error <= 0:
            return phi
        expected = baseline.expected(season, factor)
        return phi + error / (expected * expected)

    def _anomaly(
        self, w: WindowCount, baseline: SeriesBaseline, z: float, phi: float, factor: float
    ) -> RateAnomaly:
        season = self.season(w.window_start)
        return RateAnomaly(
            grid_ids=(w.grid_id,),
            category=w.category,
            observed=float(w.count),
            expected=baseline.expected(season, factor),
            score=baseline.score(w.count, season, factor, phi),
            window_start=w.window_start,
            window_end=w.window_end,
            threshold=baseline.threshold(season, z, factor, phi),
        )

    def _judge(
        self, windows: Iterable[WindowCount]
    ) -> tuple[list[RateAnomaly], dict[str, dict[str, _Cell]]]:
        """Series over ``z``, and per category the grids with more reports than expected."""
        over: list[RateAnomaly] = []
        cells: dict[str, dict[str, _Cell]] = defaultdict(dict)
        windows = list(windows)
        dispersion = self._dispersion()
        factors = self.factors(windows, dispersion)
        for w in windows:
            baseline = self._baseline((w.grid_id, w.category))
            season, (factor, _, error) = (
                self.season(w.window_start),
                factors[(w.grid_id, w.category)],
            )
            phi = self._series_dispersion(baseline, season, factor, error, dispersion, w.category)
            if baseline.is_anomalous(w.count, season, factor=factor, dispersion=phi):
                over.append(self._anomaly(w, baseline, self.config.z, phi, factor))
            expected = baseline.expected(season, factor)
            if baseline.warmed_up and w.count > expected:
                variance = baseline.variance(season, factor, phi)
                cells[w.category][w.grid_id] = _Cell(
                    w.count, expected, variance, w.window_start, w.window_end
                )
        return over, cells

    def _zone(self, cells: Mapping[str, _Cell], grids: Sequence[str]) -> float | None:
        """The zone's score if its summed count clears its bar, else None: ``cluster_z``
        for two grids, ``cluster_z_per_grid`` more for each grid past two."""
        observed = sum(cells[g].count for g in grids)
        expected = sum(cells[g].expected for g in grids)
        variance = sum(cells[g].variance for g in grids)
        dispersed = self.config.pooled_dispersion and expected > 0
        sigma = max(math.sqrt(variance), math.sqrt(expected), self.config.min_sigma)
        bar = self.config.cluster_z + self.config.cluster_z_per_grid * max(0, len(grids) - 2)
        # the zone's sum read as one negative binomial with its summed mean and variance
        phi = max(variance - expected, 0.0) / (expected * expected) if dispersed else 0.0
        if observed <= count_threshold(expected, sigma, bar, phi):
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

    def _zones(
        self, cells: Mapping[str, Mapping[str, _Cell]], neighbours: Mapping[str, Sequence[str]]
    ) -> dict[str, list[tuple[frozenset[str], float]]]:
        """Per category, the zones over their bar with their scores, best first.

        Zones are taken best score first, each only if it shares no grid with one taken
        before: a union of overlapping zones grew into a ring of grids around the anomaly.
        """
        taken_by: dict[str, list[tuple[frozenset[str], float]]] = {}
        for category, raised_cells in sorted(cells.items()):
            members = {g: c for g, c in raised_cells.items() if c.count >= MIN_MEMBER_REPORTS}
            zones = [
                z
                for centre in sorted(members)
                if (z := self._best_zone(centre, members, neighbours))
            ]
            taken: list[tuple[frozenset[str], float]] = []
            for grids, score in sorted(zones, key=lambda z: (-z[1], sorted(z[0]))):
                if not any(grids & other for other, _ in taken):
                    taken.append((grids, score))
            taken_by[category] = taken
        return taken_by

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe detector state, minus the still-open windows: their counts, and what
        ``open_alerts`` raised in them (the stream reads that back from its alerts table
        into ``mark_raised``)."""
        return {
            "windows_closed": self.windows_closed,
            "baselines": [[g, c, b.to_dict()] for (g, c), b in sorted(self.baselines.items())],
            "active": sorted([g, c] for g, c in self._active),
            "clusters": {c: [sorted(s) for s in sets] for c, sets in self._clusters.items()},
            "weekdays": {c: p.to_dict() for c, p in sorted(self.weekdays.items())},
            "dispersions": {c: d.to_dict() for c, d in sorted(self.dispersions.items())},
            "pool": self.pool.to_dict(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a ``to_dict`` state, e.g. after a restart."""
        self.windows_closed = int(state["windows_closed"])
        self.baselines = {
            (g, c): SeriesBaseline.from_dict(data, self.config) for g, c, data in state["baselines"]
        }
        self._active = {(g, c) for g, c in state["active"]}
        self._clusters = {c: [frozenset(s) for s in sets] for c, sets in state["clusters"].items()}
        # memory written before the weekday profile existed has none: it starts learning now
        self.weekdays = {
            c: WeekdayProfile.from_dict(data, self.config.weekday_prior)
            for c, data in state.get("weekdays", {}).items()
        }
        self.dispersions = {
            c: Dispersion.from_dict(data) for c, data in state.get("dispersions", {}).items()
        }
        self.pool = Pool.from_dict(state.get("pool", {}))
