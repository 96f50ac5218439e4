"""Scoring stored window counts (the stream's path) alerts as the in-memory detector does."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from civicgrid.domain import scoring
from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.warnings import EarlyWarning
from civicgrid.domain.windows import Series
from schemas.enums import AlertKind

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight, UTC+8
LINE = {"g1": ["g2"], "g2": ["g1", "g3"], "g3": ["g2"], "g4": []}
QUIET = {"g1": 1, "g2": 1, "g3": 1, "g4": 1}
DAYS = [QUIET] * 9 + [{"g4": 12, "g1": 1}, {"g4": 12}, {"g1": 12, "g2": 10, "g3": 8}, QUIET]


def _stored(days: list[dict[str, int]]) -> list[list[EarlyAlert]]:
    """Score day by day with the state round-tripped through JSON, as Postgres holds it."""
    baselines: dict[Series, dict[str, Any]] = {}
    memory = scoring.first_memory()
    out = []
    for day, counts in enumerate(days):
        result = scoring.score_window(
            T0 + day * DAY, {(g, "09009"): n for g, n in counts.items()}, baselines, memory, LINE
        )
        baselines = {k: json.loads(json.dumps(s)) for k, s in result.baselines.items()}
        memory = json.loads(json.dumps(result.memory))
        out.append(result.alerts)
    return out


def _in_memory(days: list[dict[str, int]]) -> list[list[EarlyAlert]]:
    warning = EarlyWarning(scoring.CONFIG, DAY, scoring.GRACE)
    out = []
    for day, counts in enumerate(days):
        for grid, n in counts.items():
            for i in range(n):
                warning.add(grid, "09009", T0 + day * DAY + timedelta(hours=2, minutes=i))
        out.append(warning.close_until(T0 + (day + 1) * DAY, LINE))
    return out


def test_stored_state_alerts_exactly_like_the_in_memory_detector() -> None:
    stored = _stored(DAYS)
    assert stored == _in_memory(DAYS)
    assert all(alerts == [] for alerts in stored[:9])
    (burst,) = stored[9]
    assert (burst.kind, burst.grid_ids, burst.observed) == (AlertKind.RATE_ANOMALY, ("g4",), 12)
    assert stored[10] == []  # the same episode is alerted once
    kinds = sorted((a.kind.value, a.grid_ids) for a in stored[11])
    assert ("cluster", ("g1", "g2", "g3")) in kinds


def test_a_sparse_series_does_not_alert_on_a_few_reports() -> None:
    days = [{"g1": 0}] * 8 + [{"g1": 1}] * 3 + [{"g1": 4}, {"g1": 5}]
    assert all(alerts == [] for alerts in _stored(days))


def test_alert_ids_name_kind_grids_category_and_window() -> None:
    (cluster,) = [a for a in _stored(DAYS)[11] if a.kind is AlertKind.CLUSTER]
    assert scoring.alert_id(cluster) == "cluster:g1+g2+g3:09009:2026-03-12T16:00:00+00:00"
    message = scoring.outbound(cluster)
    assert (message.grid_id, message.grid_ids) == ("g1", ("g1", "g2", "g3"))
    assert (message.window.start, message.window.end) == (T0 + 11 * DAY, T0 + 12 * DAY)
    assert message.expected == cluster.expected


def test_counts_fall_in_local_days() -> None:
    before = scoring.count_key("g1", "09009", T0 - timedelta(seconds=1))
    after = scoring.count_key("g1", "09009", T0)
    assert before == ("g1", "09009", 86400, T0 - DAY)
    assert after == ("g1", "09009", 86400, T0)
