"""Run the pure detectors over a synthetic stream and score them against the ground truth."""

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from civicgrid.domain.alerts import Alert, ClusterAlert, RateAnomaly, RepeatPointAlert
from civicgrid.domain.baseline import BaselineConfig
from civicgrid.domain.repeats import RepeatPoints
from civicgrid.domain.warnings import EarlyWarning
from civicgrid.prediction_eval.synth import Injected, Report

KINDS = ("burst", "cluster", "repeat")


def detect(
    reports: Sequence[Report],
    neighbours: Mapping[str, Sequence[str]],
    config: BaselineConfig,
    window: timedelta,
    grace: timedelta,
) -> list[tuple[datetime, Alert]]:
    """Every alert with the event time at which the stream would emit it."""
    warning = EarlyWarning(config, window, grace)
    repeats = RepeatPoints()
    out: list[tuple[datetime, Alert]] = []
    for r in reports:
        warning.add(r.grid_id, r.category, r.occurred_at)
        hit = repeats.add(r.event_id, r.occurred_at, r.grid_id, r.category, r.code, r.lat, r.lon)
        if hit is not None:
            out.append((r.arrives_at, hit))
        out.extend((a.window_end + grace, a) for a in warning.close_until(neighbours=neighbours))
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

    def add(self, alerts: Sequence[tuple[datetime, Alert]], truth: Sequence[Injected]) -> None:
        for inj in truth:
            self.injected[inj.kind] += 1
            times = [at for at, a in alerts if _detects(a, inj)]
            if times:
                self.found[inj.kind] += 1
                self.delays_h[inj.kind].append((min(times) - inj.start) / timedelta(hours=1))
        for _, alert in alerts:
            kind = alert_key(alert)
            self.alerts[kind] = self.alerts.get(kind, 0) + 1
            if any(_explains(alert, inj) for inj in truth):
                self.true_alerts[kind] = self.true_alerts.get(kind, 0) + 1

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.injected[kind] if self.injected[kind] else 1.0

    def median_delay_h(self, kind: str) -> float:
        delays = self.delays_h[kind]
        return statistics.median(delays) if delays else float("nan")
