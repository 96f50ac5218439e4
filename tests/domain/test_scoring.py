"""Scoring stored window counts (the stream's path) alerts as the in-memory detector does."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from civicgrid.domain import scoring
from civicgrid.domain.alerts import Alert as EarlyAlert
from civicgrid.domain.scoring import WindowInputs
from civicgrid.domain.warnings import EarlyWarning
from civicgrid.domain.windows import Series
from civicgrid.schemas.enums import AlertKind

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
            WindowInputs(
                T0 + day * DAY,
                {(g, "09009"): n for g, n in counts.items()},
                baselines,
                memory,
                [],
                LINE,
            )
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


def _stored_early(days: list[dict[str, int]]) -> list[list[EarlyAlert]]:
    """As ``_stored``, with the leader's check of the open day after every report: the day's
    alerts so far are read back from the alerts table each time (``raised``)."""
    baselines: dict[Series, dict[str, Any]] = {}
    memory = scoring.first_memory()
    out = []
    for day, counts in enumerate(days):
        start, running = T0 + day * DAY, dict.fromkeys(((g, "09009") for g in counts), 0)
        alerts: list[EarlyAlert] = []
        for series in running:
            for _ in range(counts[series[0]]):
                running[series] += 1
                raised = [(a.kind.value, list(a.grid_ids), a.category) for a in alerts]
                alerts += scoring.check_window(
                    WindowInputs(start, running, baselines, memory, raised, LINE)
                )
        raised = [(a.kind.value, list(a.grid_ids), a.category) for a in alerts]
        result = scoring.score_window(WindowInputs(start, running, baselines, memory, raised, LINE))
        baselines = {k: json.loads(json.dumps(s)) for k, s in result.baselines.items()}
        memory = json.loads(json.dumps(result.memory))
        out.append(alerts + result.alerts)
    return out


def _in_memory_early(days: list[dict[str, int]]) -> list[list[EarlyAlert]]:
    warning = EarlyWarning(scoring.CONFIG, DAY, scoring.GRACE)
    out = []
    for day, counts in enumerate(days):
        alerts = []
        for grid, n in counts.items():
            for i in range(n):
                warning.add(grid, "09009", T0 + day * DAY + timedelta(hours=2, minutes=i))
                alerts += warning.check_open(LINE)
        out.append(alerts + warning.close_until(T0 + (day + 1) * DAY, LINE))
    return out


def test_the_open_day_alerts_early_from_stored_state_as_in_memory() -> None:
    stored = _stored_early(DAYS)
    assert stored == _in_memory_early(DAYS)
    (burst,) = stored[9]
    assert (burst.kind, burst.grid_ids) == (AlertKind.RATE_ANOMALY, ("g4",))
    assert burst.observed < 12  # raised on the way up, before the day closed
    assert scoring.alert_id(burst) == scoring.alert_id(_stored(DAYS)[9][0])
    assert stored[10] == []
    (cluster,) = [a for a in stored[11] if a.kind is AlertKind.CLUSTER]
    assert cluster.observed < 30


def _quiet_history() -> tuple[dict[Series, dict[str, Any]], dict[str, Any]]:
    """The baselines and episode memory after the nine quiet days of ``DAYS``."""
    baselines: dict[Series, dict[str, Any]] = {}
    memory = scoring.first_memory()
    for day, counts in enumerate(DAYS[:9]):
        counted = {(g, "09009"): n for g, n in counts.items()}
        result = scoring.score_window(
            WindowInputs(T0 + day * DAY, counted, baselines, memory, [], LINE)
        )
        baselines, memory = result.baselines, result.memory
    return baselines, memory


def test_an_alert_in_the_alerts_table_is_not_raised_again() -> None:
    """After a restart the leader knows what the open day raised only from its alerts rows."""
    baselines, memory = _quiet_history()
    start, counts = T0 + 9 * DAY, {("g4", "09009"): 12, ("g1", "09009"): 1}
    (alert,) = scoring.check_window(WindowInputs(start, counts, baselines, memory, [], LINE))
    row = (alert.kind.value, list(alert.grid_ids), alert.category)
    assert scoring.check_window(WindowInputs(start, counts, baselines, memory, [row], LINE)) == []
    closed = scoring.score_window(WindowInputs(start, counts, baselines, memory, [row], LINE))
    assert closed.alerts == []
    # the episode memory still knows the series is over: the next day continues it
    assert ["g4", "09009"] in closed.memory["active"]


def test_a_cluster_raised_early_is_lifted_again_at_close_with_the_grids_it_grew_to() -> None:
    baselines, memory = _quiet_history()
    start = T0 + 9 * DAY
    early = {("g1", "09009"): 6, ("g2", "09009"): 6}
    (cluster,) = scoring.check_window(WindowInputs(start, early, baselines, memory, [], LINE))
    assert (cluster.kind, set(cluster.grid_ids)) == (AlertKind.CLUSTER, {"g1", "g2"})
    row = ("cluster", list(cluster.grid_ids), "09009")
    full = {("g1", "09009"): 12, ("g2", "09009"): 10, ("g3", "09009"): 8}
    closed = scoring.score_window(WindowInputs(start, full, baselines, memory, [row], LINE))
    assert closed.alerts == []  # the zone over all three continues the early cluster
    assert closed.lifts == [(("g1", "g2", "g3"), "09009")]
    assert scoring.score_window(WindowInputs(start, full, baselines, memory, [], LINE)).lifts == []


def test_a_window_closes_only_once_every_partition_is_past_its_end_plus_grace() -> None:
    end = T0 + DAY
    ahead, behind = end + scoring.GRACE + timedelta(days=20), end + scoring.GRACE
    now = ahead + DAY
    # one partition's reports of the day are still in its lag: the others' progress is no sign
    lagging = scoring.progress({0: ahead, 1: ahead, 2: behind - timedelta(minutes=1), 3: ahead}, 4)
    assert not scoring.closes(T0, lagging.low, now)
    assert not lagging.live
    # a partition that never wrote a watermark row holds every window back
    assert scoring.progress({0: ahead, 1: ahead, 2: ahead}, 4).low is None
    caught_up = scoring.progress({0: ahead, 1: ahead, 2: behind, 3: ahead}, 4)
    assert scoring.closes(T0, caught_up.low, now)
    assert not caught_up.live  # closing is allowed, but the partitions still stand apart
    assert scoring.progress(dict.fromkeys(range(4), ahead), 4).live
    # never ahead of the clock: a report stamped in the future closes nothing
    assert not scoring.closes(T0, ahead, behind - timedelta(minutes=1))
