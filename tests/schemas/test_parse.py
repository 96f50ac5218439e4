"""The edge parser under malformed and hostile input: only IntakeError ever comes out."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.inbound import CaseUpdate, GridRecord, Patrol, RegistryRecord, Report, Scan
from civicgrid.schemas.parse import IntakeError, parse_inbound, parse_state

EVENT_TOPICS = ("civic.scans.v1", "civic.reports.v1", "civic.patrols.v1", "civic.case-updates.v1")
WHEN = "2025-03-01T08:00:00+08:00"


def scan(**changes: Any) -> dict[str, Any]:
    body = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": WHEN,
        "schema_version": 1,
        "code": "TZ00001",
        "scanner_id": "u1",
        "scanner_role": "grid_worker",
        "purpose": "patrol",
    }
    return body | changes


def report(**changes: Any) -> dict[str, Any]:
    body = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": WHEN,
        "schema_version": 1,
        "channel": "app",
        "code": "TZ00001",
        "description": "楼下井盖没了",
        "reporter_id": "u1",
        "reporter_role": "resident",
    }
    return {k: v for k, v in (body | changes).items() if v is not None}


def attempt(
    topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
) -> IntakeError | None:
    try:
        parse_inbound(topic, key, value, headers)
    except IntakeError as error:
        return error
    return None


def kind_of(topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> DeadLetterKind:
    with pytest.raises(IntakeError) as caught:
        parse_inbound(topic, key, value, **kw)
    return caught.value.kind


@settings(max_examples=300)
@given(
    topic=st.sampled_from(EVENT_TOPICS),
    key=st.none() | st.binary(max_size=300),
    value=st.none() | st.binary(max_size=2000),
    headers=st.lists(st.tuples(st.sampled_from(["ce_id", "ce_time", "ce_type", "x"]), st.binary())),
)
def test_arbitrary_bytes_raise_only_intake_errors(
    topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    error = attempt(topic, key, value, headers)
    assert error is None or 0 < len(error.message) < 1000


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # the range orjson can write
    | st.floats()
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@settings(max_examples=300)
@given(field=st.sampled_from(sorted(scan())), replacement=json_values)
def test_hostile_field_values_are_schema_errors_or_accepted(field: str, replacement: Any) -> None:
    body = scan(**{field: replacement})
    error = attempt("civic.scans.v1", b"TZ00001", orjson.dumps(body))
    version = body["schema_version"]
    newer = type(version) is int and version > 1
    expected = DeadLetterKind.UNSUPPORTED_VERSION if newer else DeadLetterKind.SCHEMA
    assert error is None or error.kind in (expected, DeadLetterKind.BAD_KEY)


@settings(max_examples=200)
@given(
    scanner_id=st.text(
        st.characters(exclude_categories=["Z", "Cc", "Cs"]), min_size=1, max_size=128
    ),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_valid_scans_round_trip(
    scanner_id: str, lat: float, lon: float, offset_minutes: int
) -> None:
    when = datetime(2025, 3, 1, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    body = scan(scanner_id=scanner_id, lat=lat, lon=lon, occurred_at=when.isoformat())
    event = parse_inbound("civic.scans.v1", b"TZ00001", orjson.dumps(body))
    assert isinstance(event, Scan)
    assert event.occurred_at == when
    again = parse_inbound("civic.scans.v1", b"TZ00001", event.model_dump_json().encode())
    assert again == event


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"{" + b" " * 70_000 + b"}", DeadLetterKind.OVERSIZE),
        (b'{"description": "\xe4\xb8"}', DeadLetterKind.INVALID_UTF8),
        (b'{"a": NaN}', DeadLetterKind.INVALID_JSON),
        (b"[]", DeadLetterKind.INVALID_JSON),
        (b"", DeadLetterKind.INVALID_JSON),
        (orjson.dumps(scan(schema_version=2, extra=1)), DeadLetterKind.UNSUPPORTED_VERSION),
        (orjson.dumps(scan(schema_version=0)), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(schema_version="1")), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(schema_version=True)), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(occurred_at="2025-03-01T08:00:00")), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(scanner_role="mayor")), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(lat=32.5)), DeadLetterKind.SCHEMA),
        (orjson.dumps(scan(surprise=1)), DeadLetterKind.SCHEMA),
        (None, DeadLetterKind.SCHEMA),
    ],
)
def test_each_kind_in_check_order(value: bytes | None, kind: DeadLetterKind) -> None:
    assert kind_of("civic.scans.v1", b"TZ00001", value) is kind


def test_newer_version_names_itself() -> None:
    with pytest.raises(IntakeError, match="schema_version 2 is newer"):
        parse_inbound("civic.scans.v1", b"TZ00001", orjson.dumps(scan(schema_version=2)))


def test_schema_message_names_fields_and_is_capped() -> None:
    body = orjson.dumps({"a": 1, "b": 2, "c": 3, "d": 4})
    with pytest.raises(IntakeError) as caught:
        parse_inbound("civic.scans.v1", b"k", body)
    assert caught.value.message.startswith("a: Extra inputs are not permitted")
    assert caught.value.message.endswith("more)")


@pytest.mark.parametrize(
    ("body", "key", "ok"),
    [
        (report(), b"TZ00001", True),
        (report(grid_id="G0001"), b"G0001", True),
        (report(code=None, lat=32.5, lon=119.9), None, True),
        (report(), b"G0001", False),
        (report(), None, False),
        (report(), b"", False),
        (report(), b"\xff", False),
    ],
)
def test_report_keys(body: dict[str, Any], key: bytes | None, ok: bool) -> None:
    value = orjson.dumps(body)
    if ok:
        assert isinstance(parse_inbound("civic.reports.v1", key, value), Report)
    else:
        assert kind_of("civic.reports.v1", key, value) is DeadLetterKind.BAD_KEY


def test_report_needs_a_place_and_at_most_20_photos() -> None:
    nowhere = orjson.dumps(report(code=None))
    assert kind_of("civic.reports.v1", None, nowhere) is DeadLetterKind.SCHEMA
    photos = [f"https://img.example.cn/{i}.jpg" for i in range(21)]
    many = orjson.dumps(report(photos=photos))
    assert kind_of("civic.reports.v1", b"TZ00001", many) is DeadLetterKind.SCHEMA
    twenty = orjson.dumps(report(photos=photos[:20]))
    assert len(parse_inbound("civic.reports.v1", b"TZ00001", twenty).photos) == 20  # type: ignore[union-attr]


def test_other_event_keys() -> None:
    patrol = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": WHEN,
        "schema_version": 1,
        "worker_id": "w1",
        "grid_id": "G0001",
        "kind": "visit",
    }
    update = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": WHEN,
        "schema_version": 1,
        "case_id": "G0001~7",
        "actor_id": "d1",
        "actor_kind": "department",
        "action": "accept",
    }
    assert isinstance(parse_inbound("civic.patrols.v1", b"w1", orjson.dumps(patrol)), Patrol)
    assert kind_of("civic.patrols.v1", b"G0001", orjson.dumps(patrol)) is DeadLetterKind.BAD_KEY
    value = orjson.dumps(update)
    assert isinstance(parse_inbound("civic.case-updates.v1", b"G0001~7", value), CaseUpdate)
    assert kind_of("civic.case-updates.v1", b"w1", value) is DeadLetterKind.BAD_KEY


def test_cloudevents_headers_are_cross_checked() -> None:
    body = scan()
    value = orjson.dumps(body)
    good = [
        ("ce_id", body["event_id"].upper().encode()),
        ("ce_time", b"2025-03-01T00:00:00Z"),
        ("ce_type", b"civic.scan.v1"),
        ("ce_source", b"/apps/resident"),
        ("ce_specversion", b"1.0"),
    ]
    assert isinstance(parse_inbound("civic.scans.v1", b"TZ00001", value, good), Scan)
    for bad in (
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_time", b"2025-03-01T00:00:01Z"),
        ("ce_time", b"2025-03-01T00:00:00"),
        ("ce_type", b"civic.report.v1"),
        ("ce_source", None),
        ("ce_id", b"\xff"),
    ):
        kind = kind_of("civic.scans.v1", b"TZ00001", value, headers=[bad])
        assert kind is DeadLetterKind.CLOUDEVENTS_MISMATCH, bad


def test_state_records_and_tombstones() -> None:
    ring = [[119.9, 32.4], [119.91, 32.4], [119.91, 32.41], [119.9, 32.4]]
    grid = {
        "grid_id": "G0001",
        "name": "一网格",
        "community": "春晖社区",
        "street": "海陵街道",
        "district": "海陵区",
        "city": "泰州市",
        "neighbours": ["G0002"],
        "households": 320,
        "polygon": ring,
    }
    key, parsed_grid = parse_state("civic.grids.v1", b"G0001", orjson.dumps(grid))
    assert key == "G0001"
    assert isinstance(parsed_grid, GridRecord)
    assert parse_state("civic.grids.v1", b"G0001", None) == ("G0001", None)
    open_ring = grid | {"polygon": [*ring[:3], [119.9, 32.41]]}
    for key, value, kind in (
        (b"G0002", orjson.dumps(grid), DeadLetterKind.BAD_KEY),
        (b"G0001", orjson.dumps(open_ring), DeadLetterKind.SCHEMA),
        (b"\xff", None, DeadLetterKind.BAD_KEY),
        # a keyless tombstone once ended the registry follower on an assert
        (None, None, DeadLetterKind.BAD_KEY),
        (b"", None, DeadLetterKind.BAD_KEY),
    ):
        with pytest.raises(IntakeError) as caught:
            parse_state("civic.grids.v1", key, value)
        assert caught.value.kind is kind
    record = {"code": "TZ00001", "element_type": "thing", "kind": "manhole_cover", "grid_id": "G1"}
    _, parsed = parse_state("civic.registry.v1", b"TZ00001", orjson.dumps(record))
    assert isinstance(parsed, RegistryRecord)
    assert parsed.attributes == {}


def test_unknown_topic_is_a_wiring_error() -> None:
    with pytest.raises(KeyError):
        parse_inbound("civic.unknown.v1", None, b"{}")
