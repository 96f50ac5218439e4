"""Publishing to and reading from the real broker in tests."""

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import connection

# Nothing listens there: a command given it must not need a broker.
NO_BROKER = "127.0.0.1:1"
Record = tuple[str, str | bytes | None, Any]  # topic, key, value (dict -> JSON, bytes raw)


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


async def publish(
    bootstrap: str, records: Iterable[Record], headers: list[tuple[str, bytes]] | None = None
) -> int:
    producer = kafka_producer(bootstrap, linger_ms=10)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, _bytes(value), key=_bytes(key), headers=headers)
            for topic, key, value in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, minimum: int, wait_s: float = 30.0
) -> list[tuple[bytes | None, Any]]:
    """Read a topic from the start until `minimum` records arrived (or time ran out)."""
    consumer = AIOKafkaConsumer(
        topic,
        **connection(bootstrap).client_options(),
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    found: list[tuple[bytes | None, Any]] = []
    deadline = time.monotonic() + wait_s
    try:
        while len(found) < minimum and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found.extend((r.key, orjson.loads(r.value or b"null")) for r in records)
        return found
    finally:
        await consumer.stop()


async def publish_tracked(bootstrap: str, records: Iterable[Record]) -> set[tuple[str, int, int]]:
    """Publish and return where the broker put each record: what a run must account for."""
    producer = kafka_producer(bootstrap, linger_ms=10)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, _bytes(value), key=_bytes(key))
            for topic, key, value in records
        ]
        return {(m.topic, m.partition, m.offset) for m in await asyncio.gather(*futures)}
    finally:
        await producer.stop()
