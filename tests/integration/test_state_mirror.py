"""The PostgreSQL mirror of the compacted state topics, written by real workers: after
updates, tombstones, a rejected record and restarts, with two workers writing at once, it
equals the latest valid record of every key as read back from the broker."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from civicgrid.cli.common import prepare
from civicgrid.domain.privacy import mask_text
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.schemas.parse import IntakeError, parse_state
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, wait_until
from tests.support.intake import alive, metric_sum, scrape
from tests.support.kafka import publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

_GRID_FIELDS = ("name", "community", "street", "district", "city", "neighbours", "worker_ids")
_CODE_FIELDS = ("element_type", "kind", "grid_id", "lat", "lon")


async def _latest(bootstrap: str, topic: str, count: int) -> dict[str, dict[str, Any]]:
    """The last valid value of every key among the topic's first `count` records (counted,
    not by end offsets: Tansu's ListOffsets is wrong)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    latest: dict[str, dict[str, Any]] = {}
    seen = 0
    deadline = time.monotonic() + 30
    try:
        while seen < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in sorted(records, key=lambda r: r.offset):
                    seen += 1
                    try:
                        parse_state(topic, r.key, r.value)
                    except IntakeError:
                        continue  # the follower rejects it: the key keeps its last good value
                    assert r.key is not None
                    if r.value is None:
                        latest.pop(r.key.decode(), None)
                    else:
                        latest[r.key.decode()] = orjson.loads(r.value)
    finally:
        await consumer.stop()
    assert seen == count
    return latest


def _expected(grids: dict[str, dict[str, Any]], codes: dict[str, dict[str, Any]]) -> Any:
    return (
        {
            key: (
                *(v[f] if not isinstance(v[f], list) else tuple(v[f]) for f in _GRID_FIELDS),
                v.get("households", 0),
                None if v.get("polygon") is None else tuple(map(tuple, v["polygon"])),
            )
            for key, v in grids.items()
        },
        {
            key: (
                *(v.get(f) for f in _CODE_FIELDS),
                None if v.get("name") is None else mask_text(v["name"]),
                {
                    k: mask_text(a) if isinstance(a, str) else a
                    for k, a in v.get("attributes", {}).items()
                },
            )
            for key, v in codes.items()
        },
    )


async def _mirror(url: str) -> Any:
    grids = await fetch(
        url,
        f"SELECT grid_id, {', '.join(_GRID_FIELDS)}, households, polygon::text FROM mirror_grids",
    )
    codes = await fetch(
        url, f"SELECT code, {', '.join(_CODE_FIELDS)}, name, attributes::text FROM mirror_codes"
    )
    return (
        {
            r[0]: (
                *(tuple(r[f]) if isinstance(r[f], list) else r[f] for f in _GRID_FIELDS),
                r["households"],
                None if r["polygon"] is None else tuple(map(tuple, orjson.loads(r["polygon"]))),
            )
            for r in grids
        },
        {
            r[0]: (*(r[f] for f in _CODE_FIELDS), r["name"], orjson.loads(r["attributes"]))
            for r in codes
        },
    )


def _wait_mirrored(endpoints: Endpoints, published: dict[str, int]) -> Any:
    bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
    codes = asyncio.run(_latest(bootstrap, topics.REGISTRY.name, published[topics.REGISTRY.name]))
    expected = _expected(
        asyncio.run(_latest(bootstrap, topics.GRIDS.name, published[topics.GRIDS.name])), codes
    )
    deadline = time.monotonic() + 60
    while (mirror := asyncio.run(_mirror(url))) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert mirror[0] == expected[0]
    assert mirror[1] == expected[1]
    return mirror


def _rows_written(worker: WorkerProcess) -> float:
    return metric_sum(scrape(worker.port), "civicgrid_state_mirror_rows_total")


def test_mirror_equals_the_compacted_topics_through_updates_and_restarts(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    published = {topics.GRIDS.name: len(city.grids), topics.REGISTRY.name: city.code_total}
    workers = [start_worker(), start_worker()]  # both write every record
    for worker in workers:
        worker.wait_ready()
    _wait_mirrored(endpoints, published)

    codes = list(city.iter_codes())
    moved, removed, revived, hostile = codes[0], codes[1], codes[2], codes[3]
    kept_grid, dropped_grid = city.grids[0], city.grids[1]
    other_grid = city.grids[2].grid_id
    changes: list[tuple[str, str, Any]] = [
        (
            topics.GRIDS.name,
            kept_grid.grid_id,
            kept_grid.to_grid_record() | {"worker_ids": ["W-new"], "households": 7},
        ),
        (topics.GRIDS.name, dropped_grid.grid_id, None),
        (
            topics.REGISTRY.name,
            moved.code,
            moved.to_registry_record() | {"grid_id": dropped_grid.grid_id},
        ),
        (topics.REGISTRY.name, moved.code, moved.to_registry_record() | {"grid_id": other_grid}),
        (topics.REGISTRY.name, removed.code, None),
        (topics.REGISTRY.name, revived.code, None),
        (topics.REGISTRY.name, revived.code, revived.to_registry_record()),
        # rejected by validation: the mirror keeps the code's last good value
        (topics.REGISTRY.name, hostile.code, hostile.to_registry_record() | {"kind": "Bad Kind!"}),
        (
            topics.REGISTRY.name,
            "TZ-NEW-1",
            {
                "code": "TZ-NEW-1",
                "element_type": "place",
                "kind": "rental_house",
                "grid_id": other_grid,
                "name": "出租屋 房东 13812345678",
                "attributes": {"landlord_id": "320102199001011234", "rooms": 3},
            },
        ),
        # jsonb cannot hold a NUL: the edge refuses it (a `schema` dead letter), so it never
        # reaches the mirror, and the records around it do
        (
            topics.REGISTRY.name,
            "TZ-NUL-1",
            {**moved.to_registry_record(), "code": "TZ-NUL-1", "attributes": {"note": "a\u0000b"}},
        ),
    ]
    asyncio.run(publish(endpoints.kafka_bootstrap, changes))
    for topic, _, _ in changes:
        published[topic] += 1
    grids, codes_now = _wait_mirrored(endpoints, published)
    assert grids[kept_grid.grid_id][6] == ("W-new",)
    assert dropped_grid.grid_id not in grids
    assert removed.code not in codes_now
    assert codes_now[moved.code][2] == other_grid
    assert codes_now[hostile.code][1] == hostile.kind
    assert codes_now["TZ-NEW-1"][5] == "出租屋 房东 138****5678"
    assert codes_now["TZ-NEW-1"][6] == {"landlord_id": "3201**********1234", "rooms": 3}
    assert all(alive(worker) for worker in workers)  # no deadlock, no fail-stop
    assert "TZ-NUL-1" not in codes_now
    letters = (
        "SELECT count(*) FROM dead_letters WHERE topic = 'civic.registry.v1' "
        "AND kind = 'schema' AND message LIKE '%contains NUL%'"
    )
    assert asyncio.run(wait_until(endpoints.database_url, letters, 1)) == 1
    refused = [
        metric_sum(scrape(w.port), "civicgrid_state_mirror_rows_total", op="refused")
        for w in workers
    ]
    assert sum(refused) == 0

    # Nobody follows while this tombstone lands; a restarted worker reads every record from
    # the start again but writes only what the mirror lacks.
    for worker in workers:
        worker.stop()
    gone = codes[4].code
    asyncio.run(publish(endpoints.kafka_bootstrap, [(topics.REGISTRY.name, gone, None)]))
    published[topics.REGISTRY.name] += 1
    restarted = start_worker()
    restarted.wait_ready()
    _, codes_now = _wait_mirrored(endpoints, published)
    assert gone not in codes_now
    assert _rows_written(restarted) == 1
    restarted.stop()

    # The broker is replaced by an empty one (an embedded broker's restart) that gets only two
    # grids: the same database's mirror must follow it, not keep the old city.
    server = EmbeddedBroker(tmp_path / "second-broker")
    server.start()
    try:
        second = replace(endpoints, kafka_connection=KafkaConnection.plaintext(server.bootstrap))
        asyncio.run(prepare(second, partitions=4))
        kept = [g.to_grid_record() for g in city.grids[5:7]]
        asyncio.run(publish(server.bootstrap, [(topics.GRIDS.name, g["grid_id"], g) for g in kept]))
        worker = WorkerProcess(
            second,
            tmp_path / "worker-second",
            tmp_path / "worker-second.log",
            {"CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef"},
        ).start()
        try:
            worker.wait_ready()
            grids, codes_now = _wait_mirrored(
                second, {topics.GRIDS.name: 2, topics.REGISTRY.name: 0}
            )
            assert sorted(grids) == sorted(g["grid_id"] for g in kept)
            assert codes_now == {}
        finally:
            worker.stop()
    finally:
        server.stop()
