"""The contract's limits at the edge (docs/contract.md, "Limits"): what PostgreSQL cannot
store, the occurred_at window, value sizes and grid polygons are dead letters with reasons."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.limits import Limits
from civicgrid.schemas.parse import IntakeError, parse_inbound, parse_state

NOW = datetime(2026, 12, 4, 10, tzinfo=UTC)


def report(**changes: Any) -> bytes:
    body = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": NOW.isoformat(),
        "schema_version": 1,
        "channel": "app",
        "grid_id": "G0001",
        "description": "楼下井盖没了",
        "reporter_id": "u1",
        "reporter_role": "resident",
    }
    return orjson.dumps(body | changes)


def refusal(topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> IntakeError:
    state = topic in ("civic.registry.v1", "civic.grids.v1")
    parse = parse_state if state else parse_inbound
    with pytest.raises(IntakeError) as caught:
        parse(topic, key, value, **kw)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(
    "changes",
    [
        {"photos": ["https://img.example/a\u0000b.jpg"]},
        {"description": "井盖\u0000没了"},
        {"reporter_id": "u\u00001"},
    ],
)
def test_nul_anywhere_in_an_event_is_refused_with_a_plain_reason(changes: dict[str, Any]) -> None:
    error = refusal("civic.reports.v1", b"G0001", report(**changes))
    assert error.kind is DeadLetterKind.SCHEMA
    assert "NUL" in error.message
    assert "PostgreSQL" in error.message


def test_nul_in_a_registry_attribute_is_refused() -> None:
    base = {"code": "TZ1", "element_type": "thing", "kind": "manhole_cover", "grid_id": "G1"}
    for attributes in ({"owner": "drain\u0000age"}, {"o\u0000wner": "drainage"}):
        value = orjson.dumps(base | {"attributes": attributes})
        assert refusal("civic.registry.v1", b"TZ1", value).kind is DeadLetterKind.SCHEMA
    # bounded too: an attribute rides into every event's enrichment
    huge = orjson.dumps(base | {"attributes": {"note": "x" * 1001}})
    assert refusal("civic.registry.v1", b"TZ1", huge).kind is DeadLetterKind.SCHEMA


@pytest.mark.parametrize("surrogate", [b"\\ud800", b"\\udfff x", b"a\\ud83d"])
def test_lone_surrogates_are_refused(surrogate: bytes) -> None:
    value = report(description="X").replace(b'"X"', b'"' + surrogate + b'"')
    assert refusal("civic.reports.v1", b"G0001", value).kind is DeadLetterKind.INVALID_JSON


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+08:00",  # before year 1 in UTC: overflowed the sink
        "9999-12-31T23:00:00-08:00",  # after year 9999 in UTC
        "0001-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
def test_times_beyond_what_the_store_and_deadlines_hold_are_refused(when: str) -> None:
    error = refusal("civic.reports.v1", b"G0001", report(occurred_at=when))
    assert error.kind is DeadLetterKind.SCHEMA
    assert "occurred_at: time must be from 1970-01-01 up to 2100-01-01" in error.message


def test_occurred_at_is_held_to_the_window_around_the_receive_time() -> None:
    limits = Limits(max_age=timedelta(days=30), max_lead=timedelta(hours=1))
    for offset in (timedelta(days=-30), timedelta(0), timedelta(minutes=59)):
        value = report(occurred_at=(NOW + offset).isoformat())
        parse_inbound("civic.reports.v1", b"G0001", value, limits=limits, received_at=NOW)
    for offset, said in (
        (timedelta(days=-31), "31 days before the receive time"),
        (timedelta(hours=2), "2 hours after the receive time"),
        (datetime(1970, 1, 2, tzinfo=UTC) - NOW, "before the receive time"),
    ):
        value = report(occurred_at=(NOW + offset).isoformat())
        error = refusal("civic.reports.v1", b"G0001", value, limits=limits, received_at=NOW)
        assert error.kind is DeadLetterKind.OUT_OF_WINDOW
        assert said in error.message
        assert "accepted are 30 days before" in error.message


def test_the_value_limit_is_the_deployments() -> None:
    value = report(description="井" * 2000)  # 6 KB of UTF-8
    parse_inbound("civic.reports.v1", b"G0001", value)
    error = refusal("civic.reports.v1", b"G0001", value, limits=Limits(value_bytes=4096))
    assert error.kind is DeadLetterKind.OVERSIZE
    assert f"value is {len(value)} bytes; the limit is 4096" == error.message
    with pytest.raises(ValueError, match="value_bytes must be in"):
        Limits(value_bytes=1024 * 1024)  # beyond what a dead letter can carry


def _grid(ring: list[list[float]]) -> bytes:
    return orjson.dumps(
        {
            "grid_id": "G1",
            "name": "一网格",
            "community": "c",
            "street": "s",
            "district": "d",
            "city": "泰州市",
            "polygon": ring,
        }
    )


def _box(lon: float, lat: float, side_deg: float) -> list[list[float]]:
    return [
        [lon, lat],
        [lon + side_deg, lat],
        [lon + side_deg, lat + side_deg],
        [lon, lat + side_deg],
        [lon, lat],
    ]


def test_a_continent_sized_polygon_is_refused_before_it_costs_anything() -> None:
    started = time.perf_counter()
    error = refusal("civic.grids.v1", b"G1", _grid(_box(105.0, 25.0, 15.0)))
    assert time.perf_counter() - started < 0.05  # was 938 MB of index and a 3.5 s loop block
    assert error.kind is DeadLetterKind.OVERSIZE
    assert "polygon spans" in error.message
    assert "limit is 50 km a side" in error.message


def test_polygon_vertex_and_area_limits() -> None:
    parse_state("civic.grids.v1", b"G1", _grid(_box(119.9, 32.4, 0.05)))  # ~4.7 x 5.6 km
    parse_state("civic.grids.v1", b"G1", _grid(_box(119.9, 32.4, 0.2)))  # a rural 415 km2
    # a 0.4 degree box: inside 50 km a side, but 1,670 km2
    error = refusal("civic.grids.v1", b"G1", _grid(_box(119.9, 32.4, 0.4)))
    assert error.kind is DeadLetterKind.OVERSIZE
    assert "km2" in error.message
    ring = [[119.9 + i * 1e-5, 32.4 + (i % 2) * 1e-5] for i in range(30)]
    ring.append(ring[0])
    error = refusal("civic.grids.v1", b"G1", _grid(ring), limits=Limits(grid_vertices=20))
    assert error.message == "polygon has 31 points; the limit is 20"
