"""The contract's limits through the real broker, PostgreSQL and one `civicgrid run` worker
(issue 16, items 2, 3, 5, 8, 9 and 10).

State records that once killed the registry follower (a keyless tombstone), blew up a
worker (a 15 x 15 degree grid), or poisoned every event of a code (NUL in an attribute)
are dead letters with reasons, in `dead_letters` and on civic.deadletter.v1, while the
worker turns ready and keeps following the registry. Events the store cannot take, outside
the occurred_at window, oversize, or in grids that do not exist are dead letters with their
reasons; and a case stored from 1900 does not stop its grid's other SLA timers.
"""

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from confluent_kafka import Producer

from civicgrid.db.pool import create_pool
from civicgrid.db.sink import write_plan
from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.gridwork import BatchPlan
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.embedded.stack import Endpoints
from civicgrid.schemas.enums import Severity
from civicgrid.topics import catalogue as topics
from tests.support import events
from tests.support.database import fetch, wait_until
from tests.support.intake import (
    Offset,
    Raw,
    alive,
    grid_record,
    metric_sum,
    publish_raw,
    registry_record,
    scrape,
    wait_for_offsets,
)
from tests.support.kafka import read_topic
from tools.workerproc import WorkerProcess

TAIZHOU = timezone(timedelta(hours=8))
RING = [[119.9, 32.4], [119.91, 32.4], [119.91, 32.41], [119.9, 32.41], [119.9, 32.4]]
RING2 = [[120.0, 32.4], [120.01, 32.4], [120.01, 32.41], [120.0, 32.41], [120.0, 32.4]]
CONTINENT = [[105.0, 25.0], [120.0, 25.0], [120.0, 40.0], [105.0, 40.0], [105.0, 25.0]]


def _json(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def _state(topic: str, key: str | None, value: dict[str, Any] | bytes | None) -> Raw:
    raw = value if value is None or isinstance(value, bytes) else _json(value)
    return Raw(topic, None if key is None else key.encode(), raw)


def _report(key: str, description: str = "路灯不亮", **fields: Any) -> Raw:
    value = _json(events.report(None, description, channel="app", **fields))
    return Raw(topics.REPORTS.name, key.encode(), value)


def _store_a_case_from_1900(url: str) -> None:
    """A case stored before occurred_at was bounded: its clock started in 1900, which the
    working calendar cannot span (the intake now refuses such a report)."""
    long_ago = datetime(1900, 1, 1, 9, tzinfo=TAIZHOU)
    book = CaseBook()
    book.report(
        ReportFacts(
            event_id=str(uuid.uuid4()),
            occurred_at=long_ago,
            grid_id="GH01",
            code=None,
            lat=32.401,
            lon=119.901,
            category="06010",
            severity=Severity.P3,
            departments=("sanitation",),
            limit=TimeLimit.parse("4 working hours"),
            reporter_hash="h:legacy",
        ),
        long_ago,
    )
    case = book.get("GH01~1")
    assert case is not None

    async def write() -> None:
        pool = await create_pool(url, max_size=1)
        try:
            async with pool.acquire() as connection, connection.transaction():
                plan = BatchPlan(cases={case.case_id: case})
                await write_plan(connection, plan, {"GH01": 1}, WorkingCalendar())
        finally:
            await pool.close()

    asyncio.run(write())


def _with_timestamp(bootstrap: str, record: Raw, milliseconds: int) -> Offset:
    """Publish with a record timestamp of the producer's choosing (any client may)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})
    placed: list[Offset] = []
    producer.produce(
        record.topic,
        record.value,
        record.key,
        timestamp=milliseconds,
        on_delivery=lambda error, m: placed.append((m.topic(), m.partition(), m.offset())),
    )
    producer.flush(30)
    assert len(placed) == 1
    return placed[0]


def test_state_and_events_beyond_the_limits_are_dead_letters_and_the_worker_stays_ready(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    good_state = [
        _state(topics.GRIDS.name, "GH01", grid_record("GH01", polygon=RING)),
        _state(topics.GRIDS.name, "GH02", grid_record("GH02", polygon=RING2)),
        _state(topics.REGISTRY.name, "TZH00001", registry_record("TZH00001", "GH01")),
    ]
    bad_state = {
        "bad_key": _state(topics.GRIDS.name, None, None),  # a keyless tombstone
        "oversize": _state(topics.GRIDS.name, "GBIG", grid_record("GBIG", polygon=CONTINENT)),
        "schema": _state(
            topics.REGISTRY.name,
            "TZH00002",
            registry_record("TZH00002", "GH01", attributes={"owner": "drain\u0000age"}),
        ),
        "invalid_json": _state(topics.REGISTRY.name, "TZH00003", b"{not json"),
    }
    publish_raw(bootstrap, good_state)
    bad_offsets = dict(
        zip(bad_state, publish_raw(bootstrap, list(bad_state.values())), strict=True)
    )
    _store_a_case_from_1900(url)

    worker = start_worker(CIVICGRID_SLA_CHECK_SECONDS="1")
    worker.wait_ready()  # the keyless tombstone once killed the follower: never ready

    # Item 9: each refused state record is a dead letter with its reason, once, on both.
    found = asyncio.run(wait_for_offsets(url, list(bad_offsets.values()), wait_s=30))
    assert {kind: found.get(o) for kind, o in bad_offsets.items()} == {
        kind: {kind} for kind in bad_state
    }
    letters = asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, len(bad_state)))
    published = {(d["topic"], d["partition"], d["offset"]): d for _, d in letters}
    for kind, offset in bad_offsets.items():
        assert published[offset]["kind"] == kind
    kept = base64.b64decode(published[bad_offsets["schema"]]["value"])
    assert orjson.loads(kept)["code"] == "TZH00002"  # the original is kept, as base64

    # Item 10, and the follower still follows: a grid deleted while running, a keyless
    # tombstone while running, then a new grid the next report lands in.
    publish_raw(bootstrap, [_state(topics.GRIDS.name, "GH02", None)])
    live_bad = publish_raw(bootstrap, [_state(topics.GRIDS.name, None, None)])
    publish_raw(bootstrap, [_state(topics.GRIDS.name, "GH03", grid_record("GH03"))])
    assert asyncio.run(wait_for_offsets(url, live_bad, wait_s=30)).get(live_bad[0]) == {"bad_key"}

    now = datetime.now(TAIZHOU)
    probes = {
        "unknown_grid:never": _report("NO-SUCH-GRID-XYZ", grid_id="NO-SUCH-GRID-XYZ"),
        "unknown_grid:deleted": _report("k", lat=32.405, lon=120.005),  # inside GH02
        "event:new grid": _report("GH03", grid_id="GH03"),
        "schema:year 1": _report("GH01", grid_id="GH01", occurred_at="0001-01-01T00:00:00+08:00"),
        "schema:year 9999": _report(
            "GH01", grid_id="GH01", occurred_at="9999-12-31T23:00:00-08:00"
        ),
        "schema:nul photo": _report(
            "GH01", grid_id="GH01", photos=["https://img.example/a\u0000.jpg"]
        ),
        "out_of_window:1990": _report(
            "GH01", grid_id="GH01", occurred_at=datetime(1990, 1, 1, tzinfo=TAIZHOU).isoformat()
        ),
        "out_of_window:ahead": _report(
            "GH01", grid_id="GH01", occurred_at=(now + timedelta(hours=3)).isoformat()
        ),
        "oversize:900 KB": _report("GH01", grid_id="GH01", description="井" * 300_000),
        # overdue at once: a 2-hour sewer-cover case reported two days ago
        "event:overdue": _report(
            "GH01",
            grid_id="GH01",
            category_hint="01002",
            description="污水井盖丢了，很危险",
            occurred_at=(now - timedelta(days=2)).isoformat(),
        ),
    }
    # wait until GH02's tombstone and GH03 are applied (the follower and the intake read
    # different topics): all 10 state records taken in
    deadline = time.monotonic() + 30
    while metric_sum(scrape(worker.port), "civicgrid_registry_records_total") < 10:
        assert time.monotonic() < deadline, "the follower stopped applying records"
        time.sleep(0.2)
    offsets = dict(zip(probes, publish_raw(bootstrap, list(probes.values())), strict=True))
    # a record timestamp no datetime holds once raised outside the per-record guard and
    # stopped the worker (exit 70) on every start
    stamped = _with_timestamp(bootstrap, _report("GH01", grid_id="GH01"), 2**62)
    found = asyncio.run(wait_for_offsets(url, [*offsets.values(), stamped], wait_s=90))
    assert {name: found.get(o) for name, o in offsets.items()} == {
        name: {name.partition(":")[0]} for name in probes
    }
    assert found.get(stamped) == {"event"}
    reasons = dict(
        asyncio.run(
            fetch(
                url,
                'SELECT "offset", message FROM dead_letters WHERE topic = $1',
                topics.REPORTS.name,
            )
        )
    )
    assert reasons[offsets["unknown_grid:deleted"][2]] == "the point lies in no registered grid"
    assert "PostgreSQL cannot store" in reasons[offsets["schema:nul photo"][2]]
    assert "accepted are 30 days before" in reasons[offsets["out_of_window:1990"][2]]

    # Item 3: the case from 1900 costs its own timer; the overdue case of its grid breaches.
    breach = "SELECT count(*) FROM alerts WHERE kind = 'sla_breach' AND alert_id LIKE '%GH01~2%'"
    assert asyncio.run(wait_until(url, breach, 1, wait_s=60)) == 1
    samples = scrape(worker.port)
    assert metric_sum(samples, "civicgrid_sla_timer_failures_total") >= 1
    assert worker.health() == 200
    assert alive(worker)
