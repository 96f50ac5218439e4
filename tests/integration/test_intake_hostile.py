"""Hostile input thrown at intake through the real broker and one real worker (hypothesis).

The oracle is the edge parser, tested on its own in tests/schemas: a record it refuses must
come out as exactly one dead letter of the kind it names; a record it accepts must be
processed (or, for a code no one can place, an `unplaceable` dead letter). Whatever comes in,
every offset is accounted for, the worker keeps running and nothing personal leaves in clear.
"""

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from civicgrid.embedded.stack import Endpoints
from civicgrid.schemas.inbound import EVENT_MODELS
from civicgrid.schemas.parse import IntakeError, parse_inbound
from civicgrid.topics import catalogue as topics
from tests.support.database import fetchval, wait_until
from tests.support.intake import (
    Offset,
    Raw,
    alive,
    grid_record,
    leaks,
    metric_sum,
    publish_raw,
    registry_record,
    scrape,
    wait_for_offsets,
)
from tests.support.kafka import publish, read_topic
from tools.workerproc import WorkerProcess

TAIZHOU = timezone(timedelta(hours=8))
INBOUND = [spec.name for spec in topics.inbound_events()]
CE_TYPES = {model.TOPIC: model.CE_TYPE for model in EVENT_MODELS}
KNOWN_CODE = "TZH00001"
GRID = "GH01"
RING = [[119.9, 32.4], [120.0, 32.4], [120.0, 32.5], [119.9, 32.5], [119.9, 32.4]]

# Realistic Chinese free text with the personal numbers SPEC §8 names, in the shapes people
# type them: plain, with separators, full-width, with a country code, an X checksum.
PERSONAL = st.sampled_from(
    [
        "13812345678",
        "138-1234-5678",
        "+86 139 8765 4321",
        "１５９１２３４５６７８",
        "320102199003071234",
        "32010219900307123X",
    ]
)
PHRASES = st.sampled_from(
    [
        "楼道里堆满杂物，消防通道被堵，联系人王女士{}",
        "我是住在3号楼的张三，身份证{}，门口井盖丢了",
        "噪声扰民到凌晨两点，请回电{}",
        "{}这个号码打过来的人说要上门收燃气费，怀疑诈骗",
    ]
)
JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

# Found by these proofs: a mobile number behind an invalid UTF-8 byte went to the dead-letter
# topic in clear, and so did a key that was a phone number; a NUL quoted in a validation
# message failed the whole sink batch (PostgreSQL text takes no NUL).
REGRESSIONS = [
    Raw(topics.REPORTS.name, b"13812345678", b"\xff\xfe\xe8\x81\x94\xe7\xb3\xbb13812345678"),
    Raw(
        topics.SCANS.name,
        KNOWN_CODE.encode(),
        b'{"event_id": "bad\\u0000nul", "occurred_at": "2025-03-01T08:00:00+08:00"}',
    ),
]


def base_event(topic: str, description: str) -> dict[str, Any]:
    """A valid event of `topic`, placeable in the test's city."""
    head = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(TAIZHOU).isoformat(),
        "schema_version": 1,
    }
    bodies: dict[str, dict[str, Any]] = {
        topics.SCANS.name: {
            "code": KNOWN_CODE,
            "scanner_id": "13812345678",  # a phone number used as an id: it must be hashed
            "scanner_role": "grid_worker",
            "purpose": "patrol",
        },
        topics.REPORTS.name: {
            "channel": "app",
            "grid_id": GRID,
            "description": description,
            "reporter_id": "R-00000001",
            "reporter_role": "resident",
        },
        topics.PATROLS.name: {
            "worker_id": "W-GH01-1",
            "grid_id": GRID,
            "kind": "visit",
            "note": description,
        },
        topics.CASE_UPDATES.name: {
            "case_id": f"{GRID}~1",
            "actor_id": "W-GH01-1",
            "actor_kind": "grid_worker",
            "action": "handle",
            "note": description,
        },
    }
    return head | bodies[topic]


def key_of(topic: str, event: dict[str, Any]) -> bytes:
    field = {"civic.reports.v1": "grid_id", "civic.patrols.v1": "worker_id"}.get(topic)
    field = field or ("case_id" if topic == topics.CASE_UPDATES.name else "code")
    return str(event[field]).encode()


@st.composite
def hostile(draw: st.DrawFn) -> Raw:
    """One inbound record: valid with personal data, mutated, or bytes from nowhere."""
    topic = draw(st.sampled_from(INBOUND))
    text = draw(PHRASES).format(draw(PERSONAL))
    event = base_event(topic, text)
    key: bytes | None = key_of(topic, event)
    headers: list[tuple[str, bytes]] = []
    shape = draw(st.sampled_from(["valid", "field", "extra", "bytes", "cloudevents", "key"]))
    if shape == "field":  # a field replaced by any JSON value, or removed
        name = draw(st.sampled_from(sorted(event)))
        if draw(st.booleans()):
            event[name] = draw(JSON_VALUE)
        else:
            del event[name]
    elif shape == "extra":
        event[draw(st.text(min_size=1, max_size=10))] = draw(JSON_VALUE)
    elif shape == "cloudevents":
        occurred = datetime.fromisoformat(event["occurred_at"]).astimezone(UTC)
        good = {
            "ce_id": event["event_id"].encode(),
            "ce_type": CE_TYPES[topic].encode(),
            "ce_source": b"/apps/resident",
            "ce_time": occurred.isoformat().encode(),
        }
        for name in draw(st.lists(st.sampled_from(sorted(good)), unique=True, min_size=1)):
            headers.append(
                (name, draw(st.sampled_from([good[name], draw(st.binary(max_size=40))])))
            )
    elif shape == "key":
        key = draw(st.none() | st.binary(max_size=300) | PERSONAL.map(str.encode))
    # the stdlib encoder: it writes what orjson refuses (integers beyond 64 bits, Infinity,
    # lone surrogates as \u escapes), which hostile producers send too
    value: bytes | None = json.dumps(event).encode()
    if shape == "bytes":
        # bytes from nowhere, sometimes wrapped around a phone number in clear
        value = draw(
            st.none()
            | st.binary(max_size=200)
            | st.builds(
                lambda a, n, b: a + n.encode() + b,
                st.binary(max_size=20),
                PERSONAL,
                st.binary(max_size=20),
            )
        )
    return Raw(topic, key, value, tuple(headers))


def expected(record: Raw) -> str | None:
    """The dead-letter kind the edge parser names, None when it accepts the record."""
    try:
        parse_inbound(record.topic, record.key, record.value, record.headers)
    except IntakeError as error:
        return error.kind.value
    return None


def test_hostile_records_are_each_accounted_for_and_never_stop_the_worker(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    state = [
        (topics.GRIDS.name, GRID, grid_record(GRID, polygon=RING, worker_ids=["W-GH01-1"])),
        (topics.REGISTRY.name, KNOWN_CODE, registry_record(KNOWN_CODE, GRID)),
    ]
    asyncio.run(publish(bootstrap, state))
    worker = start_worker()
    worker.wait_ready()
    all_offsets: list[Offset] = []

    # Shrinking would replay every step through the broker; a failing batch is shown whole.
    @settings(
        max_examples=40,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
    )
    @given(st.lists(hostile(), min_size=1, max_size=8))
    @example(REGRESSIONS)
    def check(batch: list[Raw]) -> None:
        offsets = publish_raw(bootstrap, batch)
        found = asyncio.run(wait_for_offsets(url, offsets, wait_s=60))
        all_offsets.extend(offsets)
        for record, offset in zip(batch, offsets, strict=True):
            went = found.get(offset)
            kind = expected(record)
            if kind is not None:
                assert went == {kind}, (record, went)
            elif record.topic == topics.CASE_UPDATES.name:
                # the case may not exist (yet): processed and refused, or processed
                assert "event" in (went or set()), (record, went)
            else:
                assert went in ({"event"}, {"duplicate"}), (record, went)
        assert alive(worker)

    check()
    accounted = asyncio.run(wait_for_offsets(url, all_offsets, wait_s=30))
    assert all(o in accounted for o in all_offsets)
    assert alive(worker)

    # Nothing personal in clear: not in Postgres, not on the dead-letter topic.
    for table in ("events", "dead_letters", "scan_audits", "cases", "case_history"):
        text = asyncio.run(
            fetchval(url, f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t")
        )
        assert not leaks(text), table
    letters = asyncio.run(fetchval(url, "SELECT count(*) FROM dead_letters"))
    for key, letter in asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, letters)):
        assert not leaks(base64.b64decode(letter["value"] or ""))
        assert not leaks(key)
    samples = scrape(worker.port)
    assert metric_sum(samples, "civicgrid_dead_letters_total") == letters


def test_an_exception_in_the_grid_stage_costs_one_dead_letter_not_the_worker(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    """A later agent that throws: envelopes on the internal topic that fail the grid stage."""
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    asyncio.run(publish(bootstrap, [(topics.GRIDS.name, GRID, grid_record(GRID))]))
    worker = start_worker()
    worker.wait_ready()
    origin = {"topic": topics.SCANS.name, "partition": 0, "offset": 777}
    poison = {"kind": "scan", "grid_id": GRID, "origin": origin}  # says scan, carries none
    follow = base_event(topics.REPORTS.name, "小区路灯不亮，电话13812345678")
    records = [
        (topics.BY_GRID.name, GRID, poison),
        (topics.BY_GRID.name, GRID, b"\x00not an envelope"),
        (topics.REPORTS.name, GRID, follow),
    ]
    asyncio.run(publish(bootstrap, records))
    assert asyncio.run(wait_until(url, "SELECT count(*) FROM dead_letters", 2)) == 2
    assert asyncio.run(wait_until(url, "SELECT count(*) FROM events", 1)) == 1
    kinds = asyncio.run(
        fetchval(url, "SELECT string_agg(kind, ',' ORDER BY kind) FROM dead_letters")
    )
    assert kinds == "processing_error,schema"
    where = asyncio.run(
        fetchval(url, "SELECT \"offset\" FROM dead_letters WHERE kind = 'processing_error'")
    )
    assert where == 777  # the envelope's own origin: the inbound offset it stood for
    assert alive(worker)
    samples = scrape(worker.port)
    assert metric_sum(samples, "civicgrid_dead_letters_total", kind="processing_error") == 1
