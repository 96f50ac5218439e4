"""A client that is not aiokafka: confluent-kafka (librdkafka) publishes the city and the inbound
events, with CloudEvents binary-mode headers, and reads the output topics back (SPEC §9)."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.stack import Endpoints
from civicgrid.schemas.inbound import Report, Scan
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, fetchval, wait_until
from tests.support.intake import alive, grid_record, leaks, metric_sum, registry_record, scrape
from tools.workerproc import WorkerProcess

TAIZHOU = timezone(timedelta(hours=8))
OWN, OTHER = "GC01", "GC02"
WORKER = "W-GC01-1"
COVER, LAMP = "TZC00001", "TZC00002"  # a manhole cover in OWN, a street light in OTHER


def cloudevents(event: dict[str, Any], ce_type: str, **override: bytes) -> list[tuple[str, bytes]]:
    """Binary-mode CloudEvents attributes; ce_time in UTC with Z, as most SDKs write it."""
    occurred = datetime.fromisoformat(event["occurred_at"]).astimezone(UTC)
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": event["event_id"].encode(),
        "ce_type": ce_type.encode(),
        "ce_source": b"/apps/resident",
        "ce_time": occurred.isoformat().replace("+00:00", "Z").encode(),
        "content-type": b"application/json",
    } | override
    return list(headers.items())


def head() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(TAIZHOU).isoformat(),
        "schema_version": 1,
    }


def report(code: str, description: str) -> dict[str, Any]:
    return head() | {
        "channel": "scan",
        "code": code,
        "description": description,
        "reporter_id": "R-13800001111",
        "reporter_role": "resident",
    }


def scan(code: str) -> dict[str, Any]:
    return head() | {
        "code": code,
        "scanner_id": WORKER,
        "scanner_role": "grid_worker",
        "purpose": "patrol",
    }


def produce(bootstrap: str, records: list[tuple[str, str, Any, list[tuple[str, bytes]]]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    errors: list[str] = []
    for topic, key, value, headers in records:
        producer.produce(
            topic,
            orjson.dumps(value),
            key.encode(),
            headers=headers,
            on_delivery=lambda error, _message: errors.append(str(error)) if error else None,
        )
    assert producer.flush(30) == 0
    assert not errors, errors


def consume(bootstrap: str, topic: str, minimum: int, wait_s: float = 30.0) -> list[Any]:
    """Read a topic from the beginning with librdkafka until `minimum` values arrived."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}", "fetch.wait.max.ms": 50}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found: list[Any] = []
        deadline = time.monotonic() + wait_s
        while len(found) < minimum and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            text = (message.value() or b"").decode()
            assert not leaks(text), text
            assert "R-13800001111" not in text
            found.append(orjson.loads(text))
        return found
    finally:
        consumer.close()


def test_librdkafka_publishes_with_cloudevents_headers_and_reads_the_outputs(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    produce(
        bootstrap,
        [
            (topics.GRIDS.name, OWN, grid_record(OWN, worker_ids=[WORKER]), []),
            (topics.GRIDS.name, OTHER, grid_record(OTHER, worker_ids=["W-GC02-1"]), []),
            (topics.REGISTRY.name, COVER, registry_record(COVER, OWN, kind="manhole_cover"), []),
            (topics.REGISTRY.name, LAMP, registry_record(LAMP, OTHER, kind="street_light"), []),
        ],
    )
    worker = start_worker()
    worker.wait_ready()

    urgent = report(COVER, "小区门口的窨井盖不见了，很危险，联系我13812345678")
    mismatched = report(LAMP, "路灯不亮了，身份证320102199003071234")
    late = report(LAMP, "路灯又不亮了")
    inside, outside = scan(COVER), scan(LAMP)
    r_type, s_type = Report.CE_TYPE, Scan.CE_TYPE
    produce(
        bootstrap,
        [
            (topics.REPORTS.name, COVER, urgent, cloudevents(urgent, r_type)),
            (topics.REPORTS.name, COVER, urgent, cloudevents(urgent, r_type)),  # a retry
            (topics.SCANS.name, COVER, inside, cloudevents(inside, s_type)),
            (topics.SCANS.name, LAMP, outside, cloudevents(outside, s_type)),
            (topics.REPORTS.name, LAMP, mismatched, cloudevents(mismatched, s_type)),
            (topics.REPORTS.name, LAMP, late, cloudevents(late, r_type, ce_time=b"2020-01-01Z")),
        ],
    )
    assert asyncio.run(wait_until(url, COUNT_ACCOUNTED, 6)) == 6

    assert asyncio.run(fetchval(url, "SELECT count(*) FROM events")) == 3
    assert asyncio.run(fetchval(url, "SELECT count(*) FROM duplicate_deliveries")) == 1
    letters = asyncio.run(fetch(url, "SELECT kind, message FROM dead_letters ORDER BY message"))
    assert [row["kind"] for row in letters] == ["cloudevents_mismatch"] * 2
    assert "ce_time" in letters[0]["message"]
    assert "ce_type" in letters[1]["message"]

    # 在授权范围内: the worker's scan in their own grid passes; the other grid's is audited.
    audits = asyncio.run(fetch(url, "SELECT * FROM scan_audits"))
    assert [(str(a["event_id"]), a["code"], a["code_grid"]) for a in audits] == [
        (outside["event_id"], LAMP, OTHER)
    ]
    assert audits[0]["worker_hash"].startswith("h:")
    assert WORKER not in str(dict(audits[0]))

    cases = consume(bootstrap, topics.CASES.name, 1)
    assert cases[0]["category"] == "01002"
    assert urgent["event_id"] in cases[0]["event_ids"]
    network = consume(bootstrap, topics.DISPATCH_NETWORK.name, 1)
    assert network[0]["lead_department"] == "drainage"
    dead = consume(bootstrap, topics.DEADLETTER.name, 2)
    assert sorted(d["kind"] for d in dead) == ["cloudevents_mismatch"] * 2

    samples = scrape(worker.port)
    assert metric_sum(samples, "civicgrid_unauthorised_scans_total") == 1
    assert metric_sum(samples, "civicgrid_duplicate_events_total") == 1
    assert metric_sum(samples, "civicgrid_dead_letters_total", kind="cloudevents_mismatch") == 2
    assert alive(worker)
