"""Helpers of the intake proofs: raw records with their offsets, table and metric snapshots."""

import asyncio
import base64
import gzip
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from confluent_kafka import KafkaError, Message, Producer

from civicgrid.domain.privacy import contains_personal_numbers
from tools.workerproc import WorkerProcess

# Keyed hashes and UUIDs are hex: an 11-digit stretch inside one is not a phone number.
_HEX_IDS = re.compile(
    r"h:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
CORPUS = Path(__file__).parent.parent / "data" / "fuzz_corpus.jsonl.gz"

# Every table of the schema, so "a replay adds 0 rows" covers all of them.
TABLES = (
    "events",
    "duplicate_deliveries",
    "dead_letters",
    "grid_sequences",
    "cases",
    "case_history",
    "dispatches",
    "alerts",
    "scan_audits",
)

Offset = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True)
class Raw:
    """An inbound record exactly as bytes on the wire; `expect` is "ok" or a dead-letter kind."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    expect: str = "ok"


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def corpus() -> list[Raw]:
    records = []
    for line in gzip.decompress(CORPUS.read_bytes()).splitlines():
        row = orjson.loads(line)
        headers = tuple((name, _bytes(raw) or b"") for name, raw in row["headers"])
        records.append(
            Raw(row["topic"], _bytes(row["key"]), _bytes(row["value"]), headers, row["expect"])
        )
    return records


def publish_raw(bootstrap: str, records: list[Raw]) -> list[Offset]:
    """Publish the records as they are; return where the broker put each one, in order.

    librdkafka (confluent-kafka) rather than aiokafka: aiokafka refuses a record whose key
    and value are both null, and hostile producers send exactly such records.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 10,
            "acks": "all",
            "enable.idempotence": False,
        }
    )
    placed: dict[int, Offset] = {}
    failures: list[str] = []

    def delivered(number: int) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(str(error))
            else:
                placed[number] = (message.topic(), message.partition(), message.offset())

        return report

    for number, r in enumerate(records):
        while True:
            try:
                producer.produce(
                    r.topic, r.value, r.key, headers=list(r.headers), on_delivery=delivered(number)
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    assert not failures, failures[:3]
    return [placed[number] for number in range(len(records))]


async def table_counts(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        return {t: int(await connection.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
    finally:
        await connection.close()


async def outcomes(url: str) -> dict[Offset, set[str]]:
    """Where each inbound offset went: "event", "duplicate" and/or the dead-letter kind."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            """SELECT topic, partition, "offset", 'event' AS went FROM events
               UNION ALL SELECT topic, partition, "offset", 'duplicate' FROM duplicate_deliveries
               UNION ALL SELECT topic, partition, "offset", kind FROM dead_letters"""
        )
    finally:
        await connection.close()
    found: dict[Offset, set[str]] = {}
    for row in rows:
        found.setdefault((row[0], row[1], row[2]), set()).add(row[3])
    return found


async def wait_for_offsets(
    url: str, offsets: list[Offset], wait_s: float
) -> dict[Offset, set[str]]:
    """Poll until every offset is accounted for (or time ran out); return all outcomes."""
    deadline = time.monotonic() + wait_s
    while True:
        found = await outcomes(url)
        if all(o in found for o in offsets) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


def scrape(port: int) -> dict[str, float]:
    """A worker's /metrics as {"name{labels}": value}, label order as exposed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)", line)
        if match and not line.startswith("#"):
            samples[match.group(1)] = float(match.group(2))
    return samples


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for sample, value in samples.items():
        metric, _, rest = sample.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def registry_record(code: str, grid_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "element_type": "place",
        "kind": "doorplate",
        "grid_id": grid_id,
        "attributes": {},
        **extra,
    }


def grid_record(grid_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "grid_id": grid_id,
        "name": f"{grid_id}网格",
        "community": "海陵社区",
        "street": "城东街道",
        "district": "海陵区",
        "city": "泰州市",
        "neighbours": [],
        "worker_ids": [],
        "households": 300,
        **extra,
    }


def alive(worker: WorkerProcess) -> bool:
    """The worker process never exited: no crash, no restart."""
    return worker.process is not None and worker.process.poll() is None


def leaks(data: bytes | str | None) -> bool:
    """Whether the text (bytes: UTF-8, invalid bytes kept aside) has a personal number in clear."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    return contains_personal_numbers(_HEX_IDS.sub("#", data or ""))
