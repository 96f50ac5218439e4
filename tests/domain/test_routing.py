"""The intake's pure routing: limits and unknown grids become dead letters with reasons."""

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from civicgrid.domain.cityview import CityView
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.routing import RawRecord, published_at, route
from civicgrid.schemas.inbound import GridRecord
from civicgrid.schemas.limits import VALUE_BYTES_CEILING, Limits

NOW = datetime(2026, 12, 4, 2, tzinfo=UTC)
HASHER = KeyedHasher(b"routing-test-key-0123456789abcdef")
RING = [[119.9, 32.4], [119.91, 32.4], [119.91, 32.41], [119.9, 32.41], [119.9, 32.4]]


def city() -> CityView:
    view = CityView()
    grid = {"grid_id": "G1", "name": "一网格", "community": "c", "street": "s", "district": "d"}
    record = grid | {"city": "泰州市", "polygon": RING}
    view.apply_grid("G1", GridRecord.model_validate_json(orjson.dumps(record)))
    return view


def record(topic: str, key: str, body: dict[str, Any], offset: int = 0) -> RawRecord:
    value = orjson.dumps(
        {"event_id": str(uuid.uuid4()), "occurred_at": NOW.isoformat(), "schema_version": 1} | body
    )
    return RawRecord(topic, 0, offset, None, key.encode(), value, ())


def report(**place: Any) -> dict[str, Any]:
    return {
        "channel": "app",
        "description": "路灯不亮",
        "reporter_id": "u1",
        "reporter_role": "resident",
        **place,
    }


def test_an_unregistered_or_deleted_grid_is_an_unknown_grid_dead_letter() -> None:
    view = city()
    ok = route(record("civic.reports.v1", "G1", report(grid_id="G1")), view, HASHER, NOW)
    assert (ok.kind, ok.grid_id) == ("report", "G1")
    for envelope in (
        route(record("civic.reports.v1", "X", report(grid_id="X")), view, HASHER, NOW),
        route(
            record(
                "civic.patrols.v1",
                "w1",
                {"worker_id": "w1", "grid_id": "NO-SUCH-GRID-XYZ", "kind": "patrol"},
            ),
            view,
            HASHER,
            NOW,
        ),
    ):
        assert envelope.kind == "dead_letter"
        assert envelope.dead_letter is not None
        assert envelope.dead_letter.kind.value == "unknown_grid"
    view.apply_grid("G1", None)
    inside = route(
        record("civic.reports.v1", "k", report(lat=32.405, lon=119.905)), view, HASHER, NOW
    )
    assert inside.dead_letter is not None
    assert inside.dead_letter.kind.value == "unknown_grid"
    assert inside.dead_letter.message == "the point lies in no registered grid"


def test_occurred_at_outside_the_window_is_an_out_of_window_dead_letter() -> None:
    old = record("civic.reports.v1", "G1", report(grid_id="G1"))
    later = NOW + timedelta(days=31)
    envelope = route(old, city(), HASHER, later, Limits(max_age=timedelta(days=30)))
    assert envelope.dead_letter is not None
    assert envelope.dead_letter.kind.value == "out_of_window"
    # a backfill: the window raised, the same record is accepted
    backfill = route(old, city(), HASHER, later, Limits(max_age=timedelta(days=400)))
    assert backfill.kind == "report"


def test_an_oversize_value_is_refused_and_its_dead_letter_stays_small() -> None:
    body = report(grid_id="G1", description="井" * 300_000)  # a 900 KB description
    envelope = route(record("civic.reports.v1", "G1", body), city(), HASHER, NOW)
    assert envelope.dead_letter is not None
    assert envelope.dead_letter.kind.value == "oversize"
    kept = base64.b64decode(envelope.dead_letter.value or "")
    assert len(kept) == VALUE_BYTES_CEILING
    assert len(envelope.model_dump_json()) < 400 * 1024  # was a 1.2 MB internal record


def test_record_timestamps_no_datetime_holds_are_dropped() -> None:
    assert published_at(1_764_000_000_000) == datetime(2025, 11, 24, 16, tzinfo=UTC)
    for hostile in (None, 0, -1, -(2**63), 2**63 - 1, 10**15, 4_200_000_000_000):
        assert published_at(hostile) is None
