"""Run the pure detectors over a synthetic stream and score them against the ground truth."""

import bisect
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from civicgrid.domain.alerts import Alert, ClusterAlert, RateAnomaly, RepeatPointAlert
from civicgrid.domain.baseline import BaselineConfig
from civicgrid.domain.escalation import JOIN_RADIUS_M, REPEAT_THRESHOLD, REPEAT_WINDOW
from civicgrid.domain.geo import haversine_m
from civicgrid.domain.repeats import RepeatPoints
from civicgrid.domain.scoring import GRACE
from civicgrid.domain.warnings import EarlyWarning
from tools.prediction_eval.synth import Injected, Report

KINDS = ("burst", "cluster", "repeat")


def detect(
    reports: Sequence[Report],
    neighbours: Mapping[str, Sequence[str]],
    config: BaselineConfig,
    window: timedelta,
    grace: timedelta,
) -> list[tuple[datetime, Alert]]:
    """Every alert with the time at which the stream would emit it: at close, the window's
    end + grace; raised early or a repeat point, the arrival of the report that crossed."""
    warning = EarlyWarning(config, window, grace)
    repeats = RepeatPoints()
    out: list[tuple[datetime, Alert]] = []
    for r in reports:
        warning.add(r.grid_id, r.category, r.occurred_at)
        hit = repeats.add(r.event_id, r.occurred_at, r.grid_id, r.category, r.code, r.lat, r.lon)
        if hit is not None:
            out.append((r.arrives_at, hit))
        windows_closed = warning.windows_closed
        out.extend((a.window_end + grace, a) for a in warning.close_until(neighbours=neighbours))
        # a window that has just become the one to score may hold grace-period reports of
        # any category; otherwise only this report's category can have earned an alert
        moved = warning.windows_closed > windows_closed
        early = warning.check_open(neighbours, None if moved else {r.category})
        out.extend((r.arrives_at, a) for a in early)
    if reports:
        end = max(r.occurred_at for r in reports) + window
        out.extend((a.window_end + grace, a) for a in warning.close_until(end, neighbours))
    return out


def alert_key(alert: Alert) -> str:
    """The alert kind, repeat points split by the rule that matched."""
    if isinstance(alert, RepeatPointAlert):
        return f"{alert.kind.value}:{alert.rule}"
    return alert.kind.value


def _overlaps(alert: Alert, inj: Injected) -> bool:
    return (
        alert.category == inj.category
        and bool(set(alert.grid_ids) & set(inj.grid_ids))
        and alert.window_start <= inj.end
        and alert.window_end >= inj.start
    )


def _explains(alert: Alert, inj: Injected) -> bool:
    """Whether an injected anomaly accounts for an alert."""
    if isinstance(alert, RepeatPointAlert):
        return bool(set(alert.event_ids) & set(inj.event_ids))
    return _overlaps(alert, inj)


def _detects(alert: Alert, inj: Injected) -> bool:
    """Whether an alert is the one that should detect an injected anomaly."""
    if inj.kind == "repeat":
        return isinstance(alert, RepeatPointAlert) and _explains(alert, inj)
    if inj.kind == "cluster":
        overlap = set(alert.grid_ids) & set(inj.grid_ids)
        return isinstance(alert, ClusterAlert) and _overlaps(alert, inj) and len(overlap) > 1
    return isinstance(alert, RateAnomaly | ClusterAlert) and _overlaps(alert, inj)


@dataclass(slots=True)
class Scores:
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    delays_h: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    alerts: dict[str, int] = field(default_factory=dict)
    true_alerts: dict[str, int] = field(default_factory=dict)
    # rate and cluster alerts raised before their window closed (the stream's grace)
    early: dict[str, int] = field(default_factory=dict)
    # repeat alerts judged by the SPEC §5 rule on the event log (add_rule)
    rule_alerts: int = 0
    rule_held: int = 0  # alerts whose crossing report has 3+ reports of its point in 7 days
    rule_points: int = 0  # points where the rule holds, once per point per 7 days
    rule_points_alerted: int = 0

    def add(self, alerts: Sequence[tuple[datetime, Alert]], truth: Sequence[Injected]) -> None:
        for inj in truth:
            self.injected[inj.kind] += 1
            times = [at for at, a in alerts if _detects(a, inj)]
            if times:
                self.found[inj.kind] += 1
                self.delays_h[inj.kind].append((min(times) - inj.start) / timedelta(hours=1))
        for at, alert in alerts:
            kind = alert_key(alert)
            self.alerts[kind] = self.alerts.get(kind, 0) + 1
            if not isinstance(alert, RepeatPointAlert) and at < alert.window_end + GRACE:
                self.early[kind] = self.early.get(kind, 0) + 1
            if any(_explains(alert, inj) for inj in truth):
                self.true_alerts[kind] = self.true_alerts.get(kind, 0) + 1

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.injected[kind] if self.injected[kind] else 1.0

    def median_delay_h(self, kind: str) -> float:
        delays = self.delays_h[kind]
        return statistics.median(delays) if delays else float("nan")

    def add_rule(
        self, alerts: Sequence[tuple[datetime, Alert]], log: Sequence[Report], scored_from: datetime
    ) -> None:
        """Judge repeat alerts by the rule itself, computed from the reports, not the case book.

        Each alert's last event id is the report that raised it. An alert is right when the
        rule holds at that report; a point where the rule holds (``rule_points``, those
        after ``scored_from``) is alerted when an alert's report is of the same point within
        7 days of it. ``log`` is the whole run: a point's reports before ``scored_from``
        count too. Points of the background that meet the rule are real repeat points.
        """
        ordered = sorted(log, key=lambda r: (r.occurred_at, r.event_id))
        times = [r.occurred_at for r in ordered]
        by_id = {r.event_id: r for r in ordered}
        raised = [by_id[a.event_ids[-1]] for _, a in alerts if isinstance(a, RepeatPointAlert)]
        self.rule_alerts += len(raised)
        self.rule_held += sum(
            len(_point_reports(r, ordered, times)) >= REPEAT_THRESHOLD for r in raised
        )
        for point in rule_points(ordered):
            crossing = by_id[point.event_ids[-1]]
            if crossing.occurred_at <= scored_from:
                continue
            self.rule_points += 1
            self.rule_points_alerted += any(
                abs(r.occurred_at - crossing.occurred_at) <= REPEAT_WINDOW
                and _same_point(r, crossing)
                for r in raised
            )

    def rule_precision(self) -> float:
        return self.rule_held / self.rule_alerts if self.rule_alerts else float("nan")

    def rule_recall(self) -> float:
        return self.rule_points_alerted / self.rule_points if self.rule_points else float("nan")


def rule_points(ordered: Sequence[Report]) -> list[RepeatPointAlert]:
    """Where the rule holds: every point (one code, or one category within 250 m) reported
    3+ times in 7 days, once per point per 7 days; reports in event-time order."""
    points = RepeatPoints()
    found = (
        points.add(r.event_id, r.occurred_at, r.grid_id, r.category, r.code, r.lat, r.lon)
        for r in ordered
    )
    return [hit for hit in found if hit is not None]


def _same_point(a: Report, b: Report) -> bool:
    if a.code is not None and a.code == b.code:
        return True
    if a.category != b.category or a.lat is None or a.lon is None:
        return False
    if b.lat is None or b.lon is None:
        return False
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= JOIN_RADIUS_M


def _point_reports(
    report: Report, ordered: Sequence[Report], times: list[datetime]
) -> list[Report]:
    """The reports of ``report``'s point in the 7 days up to it, itself included."""
    first = bisect.bisect_left(times, report.occurred_at - REPEAT_WINDOW)
    last = bisect.bisect_right(times, report.occurred_at)
    return [r for r in ordered[first:last] if _same_point(r, report)]
