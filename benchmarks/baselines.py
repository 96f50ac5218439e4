"""Run a forwarder process against the shared broker and time it the way the pipeline is
timed: from the first publish to the last output record (its broker timestamp)."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.load import Record, publish_flat_out
from benchmarks.pipeline import (
    BUCKET_S,
    Drained,
    cpu_seconds,
    idle_cores,
    ids,
    rate_series,
    wait_drained,
    worker_env,
)
from benchmarks.samework import CREATE_TABLE, TABLE
from benchmarks.stack import PARTITIONS, BenchStack
from civicgrid.kafka_connection import connection

KINDS = ("aiokafka", "faust", "quix")
_STALL_S = 30.0
_WARM_UP = 20  # records through the forwarder before the clock starts: it is up and assigned


@dataclass
class Forwarded:
    kind: str
    rows: int
    expected: int
    first_publish: float
    last_output: float
    series: list[tuple[float, float]]

    @property
    def rate(self) -> float:
        return self.rows / max(self.last_output - self.first_publish, 1e-9)


async def create(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(**connection(bootstrap).client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    finally:
        await admin.close()


async def count_output(bootstrap: str, sink: str, expected: int) -> list[int]:
    """Timestamps (ms) of the sink's records, read until `expected` or a stall."""
    consumer = AIOKafkaConsumer(
        sink, **connection(bootstrap).client_options(), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    stamps: list[int] = []
    try:
        seen_at = time.monotonic()
        while len(stamps) < expected and time.monotonic() - seen_at < _STALL_S:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for messages in batch.values():
                stamps.extend(m.timestamp for m in messages)
                seen_at = time.monotonic()
    finally:
        await consumer.stop()
    return stamps


async def measure(bootstrap: str, source: str, sink: str, records: Sequence[Record]) -> Forwarded:
    watcher = asyncio.create_task(count_output(bootstrap, sink, _WARM_UP + len(records)))
    started = await publish_flat_out(bootstrap, records, topic=source)
    stamps = [s for s in await watcher if s >= started * 1000]
    last = max(stamps, default=int(started * 1000)) / 1000
    buckets: dict[int, int] = {}
    for stamp in stamps:
        bucket = int((stamp / 1000 - started) // BUCKET_S)
        buckets[bucket] = buckets.get(bucket, 0) + 1
    return Forwarded("", len(stamps), len(records), started, last, rate_series(buckets))


def run(
    kind: str, bootstrap: str, number: int, records: Sequence[Record], log_dir: Path
) -> Forwarded:
    source, sink = f"bench.{kind}.{number}.in", f"bench.{kind}.{number}.out"
    asyncio.run(create(bootstrap, source, sink))
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{kind}-{number}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.forwarders", kind, bootstrap, source, sink],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        # the clock starts once the forwarder has passed a few records on: start-up and group
        # join are not throughput
        asyncio.run(publish_flat_out(bootstrap, records[:_WARM_UP], topic=source))
        warmed = asyncio.run(count_output(bootstrap, sink, _WARM_UP))
        if len(warmed) < _WARM_UP:
            raise RuntimeError(f"{kind} forwarder did not start; see {log_dir}")
        result = asyncio.run(measure(bootstrap, source, sink, records))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    result.kind = kind
    return result


SAME_WORK = ("aiokafka-same", "quix-same")


@dataclass
class SameWork:
    kind: str
    drained: Drained
    cpu_s: float  # the peer process's CPU from the first publish to the last row
    idle: float = 0.0  # its CPU per second with nothing to read, before the load

    @property
    def rate(self) -> float:
        return self.drained.rate

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * self.cpu_s / max(self.drained.rows, 1)


def run_same_work(
    kind: str,
    stack: BenchStack,
    number: int,
    records: Sequence[Record],
    probe: Sequence[Record],
    log_dir: Path,
    constant_classifier: bool = False,
) -> SameWork:
    """A same-work peer on a new broker and database, fed the pipeline run's own records,
    published the same way to the same inbound topics; with `constant_classifier`, the
    worker's benchmark stub in the peer too (the stubbed pipeline run's like-for-like)."""
    stack.fresh_broker()
    endpoints = stack.fresh_endpoints(kind.replace("-", "_"))
    asyncio.run(_create_table(endpoints.database_url))
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **worker_env(constant_classifier)}
    label = f"{kind}-{'stub' if constant_classifier else 'real'}-{number}"
    with (log_dir / f"{label}.log").open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.forwarders",
                kind,
                endpoints.kafka_bootstrap,
                endpoints.database_url,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        # start-up (the encoder's load, group join) is not throughput: one probe first
        asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, probe))
        warmed = asyncio.run(wait_drained(endpoints.database_url, 0.0, ids(probe), TABLE))
        if warmed.rows < len(probe):
            raise RuntimeError(f"{kind} peer did not start; see {log_dir}")
        idle = idle_cores(process.pid)
        before = cpu_seconds(process.pid)
        since = asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, records))
        drained = asyncio.run(wait_drained(endpoints.database_url, since, ids(records), TABLE))
        used = cpu_seconds(process.pid) - before
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return SameWork(kind, drained, used, idle)


async def _create_table(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(CREATE_TABLE)
    finally:
        await connection.close()
