"""Intake receives each partition's fetch as one record (civicgrid/app.py `FetchedRecords`):
once its records are processed, the committed offsets must cover every one of them."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid.embedded.stack import Endpoints
from civicgrid.settings import Settings
from civicgrid.topics import catalogue as topics
from tests.support.intake import Offset, Raw, grid_record, publish_raw, wait_for_offsets
from tests.support.kafka import publish
from tools.workerproc import WorkerProcess

GRID = "GC01"


def _patrol(n: int) -> Raw:
    value = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "schema_version": 1,
        "worker_id": f"W{n % 7}",
        "grid_id": GRID,
        "kind": "patrol",
    }
    return Raw(topics.PATROLS.name, f"W{n % 7}".encode(), orjson.dumps(value))


async def _committed(
    bootstrap: str, partitions: set[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=Settings().app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(*p)) or 0 for p in partitions}
    finally:
        await consumer.stop()


def _wait_committed(bootstrap: str, offsets: list[Offset]) -> None:
    ends: dict[tuple[str, int], int] = {}
    for topic, partition, offset in offsets:
        ends[(topic, partition)] = max(ends.get((topic, partition), 0), offset + 1)
    assert len(ends) > 1  # the records spread over several partitions
    deadline = time.monotonic() + 30  # Faust commits acked offsets every second
    committed = asyncio.run(_committed(bootstrap, set(ends)))
    while committed != ends and time.monotonic() < deadline:
        time.sleep(1)
        committed = asyncio.run(_committed(bootstrap, set(ends)))
    assert committed == ends


def test_committed_offsets_reach_the_last_processed_record_of_every_partition(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    asyncio.run(publish(bootstrap, [(topics.GRIDS.name, GRID, grid_record(GRID))]))
    worker = start_worker()
    worker.wait_ready()
    offsets = publish_raw(bootstrap, [_patrol(n) for n in range(600)])
    assert all(o == {"event"} for o in asyncio.run(wait_for_offsets(url, offsets, 120)).values())
    _wait_committed(bootstrap, offsets)
    worker.stop()

    # a new worker's first fetch of each partition holds many records and starts after an
    # offset already committed: the fetch's earlier offsets must still count as done
    offsets += publish_raw(bootstrap, [_patrol(n) for n in range(600, 1500)])
    start_worker().wait_ready()
    found = asyncio.run(wait_for_offsets(url, offsets, wait_s=120))
    assert all(found.get(o) == {"event"} for o in offsets)
    _wait_committed(bootstrap, offsets)
