import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tools.city.anomalies import ANOMALY_KINDS, plan_anomalies
from tools.city.generate import generate_city
from tools.city.model import City
from tools.city.simulate import CitySimulator, SimEvent

START = datetime(2025, 3, 3, 8, 0, tzinfo=timezone(timedelta(hours=8)))
RATE, DURATION, ACCELERATION = 20.0, 600.0, 60.0
HEADER = {"event_id", "occurred_at", "schema_version"}
REPORT_FIELDS = HEADER | {
    "channel", "code", "grid_id", "lat", "lon", "category_hint", "description",
    "reporter_id", "reporter_role", "photos",
}  # fmt: skip
SCAN_FIELDS = HEADER | {"code", "scanner_id", "scanner_role", "purpose", "lat", "lon"}
PATROL_FIELDS = HEADER | {"worker_id", "grid_id", "kind", "code", "household_id", "case_id", "note"}


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city("demo", seed=7)


@pytest.fixture(scope="module")
def run(city: City) -> tuple[CitySimulator, list[SimEvent]]:
    kinds = ANOMALY_KINDS
    anomalies = plan_anomalies(
        city, kinds, 7, START, rate=RATE, duration_s=DURATION, acceleration=ACCELERATION
    )
    simulator = CitySimulator(city, 7, START, ACCELERATION, anomalies)
    return simulator, list(simulator.events(RATE, DURATION))


def test_deterministic(city: City, run: tuple[CitySimulator, list[SimEvent]]) -> None:
    simulator, events = run
    again = CitySimulator(city, 7, START, ACCELERATION, simulator.anomalies)
    assert list(again.events(RATE, DURATION)) == events


def test_rate_duration_and_simulated_time(run: tuple[CitySimulator, list[SimEvent]]) -> None:
    _, events = run
    injected = sum(a.count * len(a.grid_ids) for a in run[0].anomalies)
    assert 0.85 * RATE * DURATION < len(events) - injected < 1.15 * RATE * DURATION
    offsets = [e.offset_s for e in events]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0
    assert offsets[-1] < DURATION
    last = datetime.fromisoformat(events[-1].value["occurred_at"])
    assert last.utcoffset() == timedelta(hours=8)
    assert last - START <= timedelta(seconds=DURATION * ACCELERATION)


def test_events_follow_the_spec(city: City, run: tuple[CitySimulator, list[SimEvent]]) -> None:
    _, events = run
    topics = Counter(e.topic for e in events)
    assert set(topics) == {"civic.reports.v1", "civic.scans.v1", "civic.patrols.v1"}
    allowed = {
        "civic.reports.v1": REPORT_FIELDS,
        "civic.scans.v1": SCAN_FIELDS,
        "civic.patrols.v1": PATROL_FIELDS,
    }
    for event in events:
        assert set(event.value) <= allowed[event.topic]
        assert set(event.value) >= HEADER
        assert event.value["schema_version"] == 1
    reports = [e.value for e in events if e.topic == "civic.reports.v1"]
    assert all({"code", "grid_id", "lat"} & set(r) for r in reports)
    channels = Counter(r["channel"] for r in reports)
    assert channels["scan"] > channels["app"] > channels["hotline"] > 0
    assert channels["scan"] / (channels["scan"] + channels["app"] + channels["hotline"]) > 0.5
    for report in (r for r in reports if set(r) & {"code", "grid_id"} == set()):
        assert city.locate(report["lat"], report["lon"]) is not None
    visits = [e.value for e in events if e.value.get("kind") == "visit"]
    assert visits
    assert all(v["household_id"].startswith(f"H-{v['grid_id']}-") for v in visits)
    purposes = {e.value["purpose"] for e in events if e.topic == "civic.scans.v1"}
    assert {"view", "patrol", "verify", "report"} <= purposes
    event_ids = Counter(e.value["event_id"] for e in events)
    assert 0 < sum(n > 1 for n in event_ids.values()) < 0.02 * len(events)  # app resends


def test_anomalies_and_ground_truth(
    city: City, run: tuple[CitySimulator, list[SimEvent]], tmp_path: Path
) -> None:
    simulator, events = run
    path = tmp_path / "truth.jsonl"
    simulator.write_ground_truth(path)
    truth = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [t["kind"] for t in truth] == ["burst", "cluster", "repeat"]
    codes = {c.code: c.grid_id for c in city.iter_codes()}
    for t in truth:
        start, end = datetime.fromisoformat(t["start"]), datetime.fromisoformat(t["end"])
        inside = [
            e.value
            for e in events
            if e.topic == "civic.reports.v1"
            and start <= datetime.fromisoformat(e.value["occurred_at"]) <= end
        ]
        if t["kind"] == "repeat":
            assert sum(r.get("code") == t["code"] for r in inside) >= t["count"]
            continue
        for grid_id in t["grid_ids"]:
            in_grid = [r for r in inside if codes.get(r.get("code", "")) == grid_id]
            assert len(in_grid) >= t["count"] * 0.8
    cluster = next(t for t in truth if t["kind"] == "cluster")
    a, b, c = cluster["grid_ids"]
    assert b in city.grid(a).neighbours
    assert c in city.grid(a).neighbours
    assert c in city.grid(b).neighbours
