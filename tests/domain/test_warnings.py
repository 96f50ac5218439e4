import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from civicgrid.domain.alerts import ClusterAlert, RateAnomaly, RepeatPointAlert
from civicgrid.domain.baseline import BaselineConfig
from civicgrid.domain.repeats import RepeatPoints
from civicgrid.domain.warnings import EarlyWarning, cluster_of
from civicgrid.schemas.enums import AlertKind

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight, UTC+8
CONFIG = BaselineConfig(warmup=3)
LINE = {"g1": ["g2"], "g2": ["g1", "g3"], "g3": ["g2"], "g4": []}


def _day(warning: EarlyWarning, day: int, counts: dict[str, int]) -> list:  # type: ignore[type-arg]
    for grid, n in counts.items():
        for i in range(n):
            warning.add(grid, "09009", T0 + day * DAY + timedelta(minutes=10 + i))
    return warning.close_until(T0 + (day + 1) * DAY, LINE)


def _warmed(grids: tuple[str, ...] = ("g1", "g2", "g3", "g4")) -> EarlyWarning:
    warning = EarlyWarning(CONFIG, DAY)
    for day in range(5):
        assert _day(warning, day, dict.fromkeys(grids, 1)) == []
    return warning


def test_a_spike_is_alerted_once_per_episode() -> None:
    warning = _warmed()
    first = _day(warning, 5, {"g4": 12})
    assert len(first) == 1
    alert = first[0]
    assert isinstance(alert, RateAnomaly)
    assert alert.kind is AlertKind.RATE_ANOMALY
    assert (alert.grid_ids, alert.category, alert.observed) == (("g4",), "09009", 12.0)
    assert alert.expected == 1.0
    assert alert.score > CONFIG.z
    assert (alert.window_start, alert.window_end) == (T0 + 5 * DAY, T0 + 6 * DAY)
    assert _day(warning, 6, {"g4": 12}) == []  # same episode
    assert _day(warning, 7, {"g4": 1}) == []  # back under threshold
    assert len(_day(warning, 8, {"g4": 40})) == 1  # a new episode


def test_neighbours_over_threshold_form_one_cluster() -> None:
    warning = _warmed()
    alerts = _day(warning, 5, {"g1": 12, "g2": 10, "g3": 6, "g4": 12})
    clusters = [a for a in alerts if isinstance(a, ClusterAlert)]
    assert len(clusters) == 1
    cluster = clusters[0]
    # the neighbourhood is judged by its sum; g4 is not adjacent.
    assert set(cluster.grid_ids) == {"g1", "g2", "g3"}
    assert cluster.grid_ids[0] == "g1"  # the largest count first
    assert cluster.observed == 28.0
    # the members' own rate anomalies are folded into the cluster
    rate = {a.grid_id for a in alerts if isinstance(a, RateAnomaly)}
    assert rate == {"g4"}
    assert json.loads(json.dumps(cluster.to_dict()))["kind"] == "cluster"
    assert [a for a in _day(warning, 6, {"g1": 12, "g2": 12}) if a.kind is AlertKind.CLUSTER] == []


def test_each_grid_past_two_raises_the_clusters_bar() -> None:
    sizes = []
    for per_grid in (0.0, 10.0):
        warning = EarlyWarning(replace(CONFIG, cluster_z_per_grid=per_grid), DAY)
        for day in range(5):
            assert _day(warning, day, dict.fromkeys(("g1", "g2", "g3", "g4"), 1)) == []
        alerts = _day(warning, 5, {"g1": 5, "g2": 5, "g3": 5})
        (cluster,) = [a for a in alerts if isinstance(a, ClusterAlert)]
        sizes.append(len(cluster.grid_ids))
    assert sizes == [3, 2]  # a steep bar keeps only the pair that clears it on its own


def test_cluster_of_groups_by_category_and_window() -> None:
    def anomaly(grid: str, category: str, day: int, score: float) -> RateAnomaly:
        start = T0 + day * DAY
        return RateAnomaly((grid,), category, 9.0, 1.0, score, start, start + DAY, 7.0)

    anomalies = [
        anomaly("g1", "a", 0, 5.0),
        anomaly("g2", "a", 0, 6.0),
        anomaly("g3", "b", 0, 9.0),
        anomaly("g3", "a", 1, 9.0),
        anomaly("g4", "a", 0, 9.0),
    ]
    # Adjacency listed on one side only still joins the grids.
    clusters = cluster_of(anomalies, {"g1": ["g2"]})
    assert [(c.grid_ids, c.category, c.score) for c in clusters] == [(("g2", "g1"), "a", 6.0)]


def test_new_series_are_not_stuck_in_warm_up() -> None:
    warning = _warmed(("g1",))
    alerts = _day(warning, 5, {"g1": 1, "g9": 15})
    assert [(a.grid_id, a.observed) for a in alerts] == [("g9", 15.0)]


def test_state_round_trips() -> None:
    warning = _warmed()
    _day(warning, 5, {"g1": 12, "g2": 12})
    restored = EarlyWarning(CONFIG, DAY)
    restored.restore(json.loads(json.dumps(warning.to_dict())))
    assert restored.to_dict() == warning.to_dict()
    restored.add("g1", "09009", T0 + 6 * DAY)
    # The episode carries over the restart: no second alert for g1.
    assert restored.close_until(T0 + 7 * DAY, LINE) == []


LAT, LON = 32.45, 119.92
M = 1 / 111_320  # one metre of latitude in degrees


def test_repeat_code_alerts_on_the_third_report_once_per_week() -> None:
    points = RepeatPoints()
    at = [T0 + k * DAY for k in range(10)]
    assert points.add("e1", at[0], "g1", "01002", code="MH-1") is None
    assert points.add("e2", at[1], "g1", "01002", code="MH-1") is None
    alert = points.add("e3", at[2], "g1", "01002", code="MH-1")
    assert isinstance(alert, RepeatPointAlert)
    assert (alert.kind, alert.rule, alert.code) == (AlertKind.REPEAT_POINT, "code", "MH-1")
    assert alert.event_ids == ("e1", "e2", "e3")
    assert (alert.observed, alert.expected) == (3.0, 3.0)
    assert points.add("e4", at[3], "g1", "01002", code="MH-1") is None
    later = at[9] + timedelta(hours=1)  # over 7 days after e3 and its alert
    assert points.add("e5", later, "g1", "01002", code="MH-1") is None  # e4, e5: not enough
    alert = points.add("e6", later, "g1", "01002", code="MH-1")
    assert alert is not None
    assert alert.event_ids == ("e4", "e5", "e6")


def test_repeat_location_needs_same_category_within_radius() -> None:
    points = RepeatPoints()
    assert points.add("a", T0, "g1", "06010", lat=LAT, lon=LON) is None
    assert points.add("b", T0 + DAY, "g1", "09009", lat=LAT, lon=LON) is None  # other category
    assert points.add("c", T0 + DAY, "g1", "06010", lat=LAT - 400 * M, lon=LON) is None  # far
    assert points.add("d", T0 + 2 * DAY, "g2", "06010", lat=LAT + 240 * M, lon=LON) is None
    alert = points.add("e", T0 + 3 * DAY, "g1", "06010", lat=LAT + 100 * M, lon=LON)
    assert alert is not None
    assert alert.rule == "location"
    assert set(alert.event_ids) == {"a", "d", "e"}
    assert alert.grid_ids == ("g1", "g2")
    assert points.add("f", T0 + 4 * DAY, "g1", "06010", lat=LAT, lon=LON) is None


def _report(warning: EarlyWarning, grid: str, day: int, minute: int) -> list:  # type: ignore[type-arg]
    """One report in the window being counted, then the check the leader's timer makes."""
    warning.add(grid, "09009", T0 + day * DAY + timedelta(minutes=minute))
    return warning.check_open(LINE)


def test_a_spike_alerts_early_once_and_not_again_on_close() -> None:
    warning = _warmed()
    threshold = warning.baselines[("g4", "09009")].threshold()
    raised = [(n, _report(warning, "g4", 5, n)) for n in range(1, 13)]
    alerting = [(n, alerts) for n, alerts in raised if alerts]
    assert len(alerting) == 1  # not once per report
    n, (alert,) = alerting[0]
    assert n == int(threshold) + 1  # the first count over the full window's threshold
    assert isinstance(alert, RateAnomaly)
    assert (alert.observed, alert.threshold) == (float(n), threshold)
    assert (alert.window_start, alert.window_end) == (T0 + 5 * DAY, T0 + 6 * DAY)
    assert warning.close_until(T0 + 6 * DAY, LINE) == []  # not again on close
    assert _day(warning, 6, {"g4": 12}) == []  # the episode continues
    assert [a.grid_id for a in _day(warning, 8, {"g4": 40})] == ["g4"]  # a new one


def test_early_alerts_change_when_not_whether() -> None:
    """A month of noisy counts with spikes alerts the same series in the same windows,
    checked after every report or only at close; learning is the same too."""
    rng = random.Random(7)
    days = [
        {g: rng.choice((0, 1, 1, 2)) + (rng.random() < 0.15) * rng.randint(6, 20) for g in LINE}
        for _ in range(30)
    ]
    runs = []
    for early in (True, False):
        warning = EarlyWarning(CONFIG, DAY)
        alerts = []
        for day, counts in enumerate(days):
            for grid, n in counts.items():
                for i in range(n):
                    warning.add(grid, "09009", T0 + day * DAY + timedelta(minutes=10 + i))
                    if early:
                        alerts += warning.check_open()
            alerts += warning.close_until(T0 + (day + 1) * DAY)
        runs.append(
            (sorted((a.grid_id, a.window_start) for a in alerts), warning.to_dict(), len(alerts))
        )
    assert runs[0][:2] == runs[1][:2]
    assert runs[0][2] > 3


def test_a_cluster_alerts_early_once_for_the_window() -> None:
    warning = _warmed()
    for minute in range(4):
        assert _report(warning, "g1", 5, minute) == []
    alerts = []
    for minute in range(4):
        alerts += _report(warning, "g2", 5, minute)
    (cluster,) = alerts
    assert isinstance(cluster, ClusterAlert)
    assert (set(cluster.grid_ids), cluster.observed) == ({"g1", "g2"}, 7.0)  # 4 + 3
    # more reports, a third grid joining and the close extend it: no second cluster, and
    # its members' own rate anomalies stay folded into it
    for minute in range(4, 12):
        assert _report(warning, "g1", 5, minute) == []
        assert _report(warning, "g3", 5, minute) == []
    assert warning.close_until(T0 + 6 * DAY, LINE) == []
    # the next window continues the episode
    assert [a for a in _day(warning, 6, {"g2": 9, "g3": 9}) if a.kind is AlertKind.CLUSTER] == []


def test_a_cluster_forms_when_a_neighbour_follows_a_grid_that_alerted_alone() -> None:
    warning = _warmed()
    alone = [a for minute in range(12) for a in _report(warning, "g1", 5, minute)]
    assert [(a.kind, a.grid_ids) for a in alone] == [(AlertKind.RATE_ANOMALY, ("g1",))]
    later = [a for minute in range(6) for a in _report(warning, "g2", 5, minute)]
    assert [(a.kind, set(a.grid_ids)) for a in later] == [(AlertKind.CLUSTER, {"g1", "g2"})]
    assert warning.close_until(T0 + 6 * DAY, LINE) == []


def test_alerts_raised_before_a_restart_are_not_raised_again() -> None:
    warning = _warmed()
    for minute in range(12):
        _report(warning, "g4", 5, minute)
    restored = EarlyWarning(CONFIG, DAY)
    restored.restore(json.loads(json.dumps(warning.to_dict())))
    restored.mark_raised(T0 + 5 * DAY, AlertKind.RATE_ANOMALY, ("g4",), "09009")
    for minute in range(12):
        assert _report(restored, "g4", 5, minute) == []
    assert restored.close_until(T0 + 6 * DAY, LINE) == []
    # what was raised in one window says nothing about the next
    fresh = EarlyWarning(CONFIG, DAY)
    fresh.restore(json.loads(json.dumps(warning.to_dict())))
    fresh.mark_raised(T0 + 4 * DAY, AlertKind.RATE_ANOMALY, ("g4",), "09009")
    assert [a.grid_id for m in range(12) for a in _report(fresh, "g4", 5, m)] == ["g4"]


KITE = {"x": ["w"], "w": ["x", "y", "z"], "y": ["w", "z"], "z": ["w", "y"]}


def test_a_raised_cluster_growing_is_not_alerted_again() -> None:
    warning = EarlyWarning(CONFIG, DAY)
    for day in range(5):
        for grid in KITE:
            warning.add(grid, "09009", T0 + day * DAY + timedelta(hours=1))
        assert warning.close_until(T0 + (day + 1) * DAY, KITE) == []
    clusters = []
    for step, (grid, n) in enumerate([("w", 4), ("y", 4), ("z", 9), ("x", 9), ("w", 6)]):
        for i in range(n):
            warning.add(grid, "09009", T0 + 5 * DAY + timedelta(minutes=10 * step + i))
        clusters += [set(a.grid_ids) for a in warning.check_open(KITE)]
    clusters += [set(a.grid_ids) for a in warning.close_until(T0 + 6 * DAY, KITE)]
    assert clusters == [{"w", "y"}]
