"""The baselines, each a process of its own like the worker, until stopped.

Bare forwarders (what a framework costs, no pipeline work): read reports from `source`,
decode them, forward them to `sink`.

    python -m benchmarks.forwarders aiokafka|faust|quix BOOTSTRAP SOURCE SINK

Same-work peers (what a user would write instead): read the city's mix from the four inbound
topics, run the pipeline's stateless stages (benchmarks/samework.py), de-duplicate by event
id, and write one row per event to PostgreSQL.

    python -m benchmarks.forwarders aiokafka-same|quix-same BOOTSTRAP DATABASE_URL
"""

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from benchmarks.samework import TABLE, Stages, raw
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import KafkaConnection, connection
from civicgrid.schemas.inbound import Report
from civicgrid.settings import Settings
from civicgrid.topics import catalogue as topics
from tools.city.generate import generate_city

if TYPE_CHECKING:  # faust is imported only by the process that runs the Faust forwarder
    from civicgrid.app import CivicApp

BATCH = 1000
SAME_WORK_POLL = 250  # records per poll and per transaction: rows land while a load drains
SAME_WORK_CHECKPOINT_S = 0.5  # the Quix peer's checkpoint (and sink write) interval


def forward(value: bytes) -> bytes:
    """Decode with the pipeline's own model and encode again: the least any stage does."""
    return Report.model_validate_json(value).model_dump_json().encode()


async def aiokafka_loop(bootstrap: str, source: str, sink: str) -> None:
    """(1) The floor: a plain consume -> pydantic -> produce loop, no framework."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        source,
        **connection(bootstrap).client_options(),
        group_id=f"bench-aiokafka-{source}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,  # Tansu answers a waiting fetch only when the wait runs out
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    producer = kafka_producer(bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            futures = [
                await producer.send(sink, forward(m.value or b""), key=m.key)
                for messages in batches.values()
                for m in messages
            ]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await consumer.stop()
        await producer.stop()


def faust_forwarder(bootstrap: str, source: str, sink: str) -> None:
    """(2) One Faust agent with the worker's own app settings (civicgrid/app.py), batches of
    BATCH, pydantic decode and Faust's ordinary `topic.send`."""
    from civicgrid.app import create_app
    from civicgrid.embedded.process import free_port

    with tempfile.TemporaryDirectory(prefix="bench-faust") as data_dir:
        settings = Settings(
            app_id=f"bench-faust-{source}", web_port=free_port(), data_dir=Path(data_dir)
        )
        _run_faust(
            create_app(settings, connection(bootstrap)), source, sink, settings.batch_seconds
        )


def _run_faust(app: "CivicApp", source: str, sink: str, within: float) -> None:
    import faust

    inbound = app.topic(source, key_serializer="raw", value_serializer="raw")
    outbound = app.topic(sink, key_serializer="raw", value_serializer="raw")

    @app.agent(inbound)
    async def forwarder(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=within):
            for event in events:
                await outbound.send(key=event.message.key, value=forward(event.message.value))

    worker = faust.Worker(
        app, loglevel="WARNING", override_logging=False, redirect_stdouts=False, quiet=True
    )
    worker.execute_from_commandline()


def quix_forwarder(bootstrap: str, source: str, sink: str) -> None:
    """(3) Quix Streams decoding and forwarding the same reports, like (1) and (2): what the
    framework costs. (Until issue 22 it also classified every record, so its figure mixed
    the framework's cost with the classifier's; the same-work Quix peer below classifies.)"""
    from quixstreams import Application

    with tempfile.TemporaryDirectory(prefix="bench-quix") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=f"bench-quix-{source}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            consumer_extra_config={"fetch.wait.max.ms": 10},
            producer_extra_config={"linger.ms": 5},
            loglevel="WARNING",
        )
        inbound = app.topic(source, value_deserializer="bytes", key_deserializer="bytes")
        outbound = app.topic(sink, value_serializer="bytes", key_serializer="bytes")
        # Quix keeps the input's timestamp on the output; the harness times the forward itself
        app.dataframe(inbound).apply(forward).set_timestamp(
            lambda value, key, timestamp, headers: time.time_ns() // 1_000_000
        ).to_topic(outbound)
        app.run()


INBOUND = [spec.name for spec in topics.inbound_events()]


async def aiokafka_same_work(bootstrap: str, database_url: str) -> None:
    """(4) The floor for the same work: getmany -> stateless stages (reports encoded per
    poll, as the grid stage does per batch) -> de-duplicate in a set -> one COPY-free INSERT
    per poll in one transaction -> commit offsets."""
    import asyncpg
    from aiokafka import AIOKafkaConsumer

    stages = Stages.for_city(generate_city("demo"))
    seen: set[str] = set()
    consumer = AIOKafkaConsumer(
        *INBOUND,
        **KafkaConnection.plaintext(bootstrap).client_options(),
        group_id="bench-aiokafka-same",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    connection = await asyncpg.connect(database_url)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=SAME_WORK_POLL)
            records = [
                raw(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value)
                for messages in batches.values()
                for m in messages
            ]
            rows = []
            for row in stages.rows(records) if records else []:
                if row["event_id"] not in seen:
                    seen.add(row["event_id"])
                    rows.append(row)
            if rows:
                await connection.executemany(
                    f"INSERT INTO {TABLE} (event_id, kind, grid_id, category, severity, payload)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    [
                        (
                            r["event_id"],
                            r["kind"],
                            r["grid_id"],
                            r["category"],
                            r["severity"],
                            orjson.dumps(r["payload"]).decode(),
                        )
                        for r in rows
                    ],
                )
            if records:
                await consumer.commit()
    finally:
        await consumer.stop()
        await connection.close()


def quix_same_work(bootstrap: str, database_url: str) -> None:
    """(5) Quix Streams doing the same work: one StreamingDataFrame per inbound topic, the
    stateless stages a record at a time, de-duplication in Quix state (RocksDB, per message
    key: a resend carries its original key), Quix's own PostgreSQLSink, written at each
    checkpoint (every SAME_WORK_CHECKPOINT_S)."""
    from quixstreams import Application, State
    from quixstreams.sinks.community.postgresql import PostgreSQLSink

    stages = Stages.for_city(generate_city("demo"))
    url = urlsplit(database_url)

    def first_time(row: dict[str, Any] | None, state: "State[str, bool]") -> bool:
        if row is None or state.get(row["event_id"]):
            return False
        state.set(row["event_id"], True)
        return True

    with tempfile.TemporaryDirectory(prefix="bench-quix-same") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group="bench-quix-same",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            # the sink writes at each checkpoint: Quix's default of one every 5 s added up to
            # 5 s to a run's tail (the pipeline commits each batch within 20 ms)
            commit_interval=SAME_WORK_CHECKPOINT_S,
            consumer_extra_config={"fetch.wait.max.ms": 10},
            loglevel="WARNING",
        )
        sink = PostgreSQLSink(
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            dbname=url.path.lstrip("/"),
            user=url.username or "postgres",
            password=url.password or "",
            table_name=TABLE,
            schema_auto_update=False,  # the harness made the table, with processed_at
            include_metadata=False,
            on_conflict_do_nothing=True,
        )
        for name in INBOUND:
            topic = app.topic(name, value_deserializer="bytes", key_deserializer="bytes")
            rows = app.dataframe(topic).apply(_stateless(stages, name), metadata=True)
            rows.filter(first_time, stateful=True).apply(_jsonb).sink(sink)
        app.run()


def _stateless(
    stages: Stages, topic: str
) -> Callable[[bytes, bytes | None, int, Any], dict[str, Any] | None]:
    def row(value: bytes, key: bytes | None, timestamp: int, headers: Any) -> dict[str, Any] | None:
        return stages.row(raw(topic, 0, 0, timestamp, key, value))

    return row


def _jsonb(row: dict[str, Any]) -> dict[str, Any]:
    """psycopg2 adapts a dict only when wrapped; the sink passes values through as they are."""
    return row | {"payload": orjson.dumps(row["payload"]).decode()}


def main(argv: list[str]) -> None:
    # as civicgrid/runtime.py sets it for the worker, before any encoder starts: with one
    # OpenMP thread per core the encoder thrashes on a shared machine
    os.environ["OMP_NUM_THREADS"] = str(Settings().encoder_omp_threads)
    kind = argv[0]
    if kind == "aiokafka-same":
        asyncio.run(aiokafka_same_work(argv[1], argv[2]))
        return
    if kind == "quix-same":
        quix_same_work(argv[1], argv[2])
        return
    kind, bootstrap, source, sink = argv
    if kind == "aiokafka":
        asyncio.run(aiokafka_loop(bootstrap, source, sink))
    elif kind == "faust":
        faust_forwarder(bootstrap, source, sink)
    elif kind == "quix":
        quix_forwarder(bootstrap, source, sink)
    else:
        raise SystemExit(f"unknown forwarder {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
