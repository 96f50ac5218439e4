"""The whole pipeline as a real `civicgrid run` process: start-up, saturation, latency at fixed
offered rates, and peak RSS, each read back from PostgreSQL and the dispatch topics."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from benchmarks.load import Record, publish_flat_out, publish_paced, simulated
from benchmarks.stack import BenchStack
from benchmarks.stats import percentile
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import connection
from tools.city.model import City
from tools.city.publish import DISPATCH_TOPICS, publish_city
from tools.workerproc import WorkerProcess

BUCKET_S = 0.5  # resolution of the throughput-over-time plot
_STALL_S = 60.0  # no new row for this long: the pipeline lost events or stopped
_WARM_UP_S = 3.0  # paced events before a latency phase's measured ones
IDLE_S = 3.0  # a started process's CPU with nothing to read, before its load


def idle_cores(pid: int, seconds: float = IDLE_S) -> float:
    """The process's CPU per second while it waits for records (polling, timers, heartbeats):
    a fixed cost that a slow run spreads over few events."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def worker_env(constant_classifier: bool = False) -> dict[str, str]:
    """A fixed pseudonym key: the worker would otherwise write one under its data dir; with
    `constant_classifier`, the benchmark switch that prices the classifier."""
    env = {"CIVICGRID_PSEUDONYM_KEY": "bench-key-0123456789abcdef"}
    if constant_classifier:
        env["CIVICGRID_BENCH_CONSTANT_CLASSIFIER"] = "true"
    return env


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def vm_hwm_bytes(pid: int) -> int:
    """Peak resident set of a live process, from the kernel's own high-water mark."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


@dataclass
class Drained:
    rows: int
    expected: int
    first_publish: float
    last_commit: float
    series: list[tuple[float, float]]  # (seconds from the first publish, rows/s)

    @property
    def rate(self) -> float:
        return self.rows / max(self.last_commit - self.first_publish, 1e-9)


@dataclass
class Latency:
    rate: float
    commit_ms: list[float]
    dispatch_ms: list[float]


@dataclass
class PipelineRun:
    startup_s: float = float("nan")
    saturation: Drained | None = None
    latencies: list[Latency] = field(default_factory=list)
    rss_bytes: int = 0
    cpu_s: float = 0.0  # the worker's CPU from the first publish to the last row, saturation
    idle: float = 0.0  # the worker's CPU per second with nothing to read, before saturation

    @property
    def cpu_ms_per_event(self) -> float:
        rows = self.saturation.rows if self.saturation else 0
        return 1000 * self.cpu_s / max(rows, 1)


async def wait_drained(
    database_url: str, since: float, event_ids: Sequence[str], table: str = "events"
) -> Drained:
    """Poll until every one of `event_ids` has its row in `table` (or no new row comes for a
    while); `table` is the pipeline's `events` or a same-work peer's."""
    wanted = sorted(set(event_ids))
    connection = await asyncpg.connect(database_url)
    try:
        rows, seen_rows, seen_at = 0, -1, time.monotonic()
        while rows < len(wanted) and time.monotonic() - seen_at < _STALL_S:
            await asyncio.sleep(0.5)
            rows = await connection.fetchval(
                f"SELECT count(*) FROM {table} WHERE event_id = ANY($1::uuid[])", wanted
            )
            if rows != seen_rows:
                seen_rows, seen_at = rows, time.monotonic()
        buckets = await connection.fetch(
            "SELECT floor((extract(epoch FROM processed_at) - $1) / $2) AS b, count(*) "
            f"FROM {table} WHERE event_id = ANY($3::uuid[]) GROUP BY b ORDER BY b",
            since,
            BUCKET_S,
            wanted,
        )
        last = await connection.fetchval(
            f"SELECT extract(epoch FROM max(processed_at)) FROM {table} "
            "WHERE event_id = ANY($1::uuid[])",
            wanted,
        )
    finally:
        await connection.close()
    series = rate_series({int(b): int(n) for b, n in buckets})
    return Drained(rows, len(wanted), since, float(last or since), series)


def rate_series(counts: dict[int, int]) -> list[tuple[float, float]]:
    """Events/s per bucket from the first to the last, empty buckets as zero (a stall shows)."""
    if not counts:
        return []
    return [
        (b * BUCKET_S, counts.get(b, 0) / BUCKET_S) for b in range(min(counts), max(counts) + 1)
    ]


async def commit_latencies(database_url: str, since: float) -> list[float]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT extract(epoch FROM processed_at - published_at) * 1000 FROM events "
            "WHERE published_at >= to_timestamp($1)",
            since,
        )
    finally:
        await connection.close()
    return [float(row[0]) for row in rows]


async def dispatch_latencies(endpoints: Endpoints, since: float) -> list[float]:
    """Each case's first dispatch on each topic, against the publish time of the event that
    caused it (dispatches -> case_history -> events)."""
    connection = await asyncpg.connect(endpoints.database_url)
    try:
        causes = await connection.fetch(
            "SELECT DISTINCT ON (d.case_id, d.level) d.case_id, d.level, "
            "extract(epoch FROM e.published_at) * 1000 FROM dispatches d "
            "JOIN case_history h ON h.case_id = d.case_id AND h.version = d.version "
            "JOIN events e ON e.event_id = h.event_id "
            "WHERE e.published_at >= to_timestamp($1) ORDER BY d.case_id, d.level, d.version",
            since,
        )
    finally:
        await connection.close()
    published = {(row[0], row[1]): float(row[2]) for row in causes}
    level_of = dict(zip(DISPATCH_TOPICS, ("grid", "network"), strict=True))
    first: dict[tuple[str, str], float] = {}
    for topic, timestamp_ms, value in await read_topics(endpoints.kafka_bootstrap, DISPATCH_TOPICS):
        if timestamp_ms < since * 1000:
            continue  # an earlier run's: case ids restart with each run's fresh database
        key = (str(orjson.loads(value)["case_id"]), level_of[topic])
        if key in published and key not in first:
            first[key] = timestamp_ms - published[key]
    return list(first.values())


async def read_topics(bootstrap: str, topics: Sequence[str]) -> list[tuple[str, int, bytes]]:
    """Every record of the topics, read from the start until two polls come back empty
    (Tansu's end offsets cannot be trusted, GROUND.md)."""
    consumer = AIOKafkaConsumer(
        *topics,
        **connection(bootstrap).client_options(),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records: list[tuple[str, int, bytes]] = []
        empty = 0
        while empty < 2:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            empty = 0 if batch else empty + 1
            for messages in batch.values():
                records.extend((m.topic, m.timestamp, m.value or b"") for m in messages)
        return records
    finally:
        await consumer.stop()


def ids(records: Sequence[Record]) -> list[str]:
    return [record.event_id for record in records]


def profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker until SIGINT, collapsed stacks (greppable text) to `out`."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass
class PipelineBench:
    """Each run: a fresh broker with the city published to it, a fresh database (cases do
    not pile up from run to run) and a new worker process."""

    stack: BenchStack
    city: City
    work_dir: Path
    saturation_events: int
    latency_rates: Sequence[float]
    latency_seconds: float
    constant_classifier: bool = False

    def records(self, number: int) -> list[Record]:
        """Run `number`'s saturation load; the same-work peers are fed the same records."""
        return simulated(self.city, self.saturation_events / 10, 10, seed=1000 * number + 1)

    def probe(self, seed: int) -> list[Record]:
        """One event published before a process starts: its row marks the process up."""
        return simulated(self.city, 50, 0.1, seed=seed)[:1]

    def run(self, number: int, profile_to: Path | None = None) -> PipelineRun:
        """One run; with `profile_to`, py-spy samples the saturation phase, and the latency
        phases are skipped (the profile's run is not one of the counted ones).

        Each latency phase runs on a new broker (the stack's docstring says why), a new
        worker and a new database: `events` is unique by (topic, partition, offset), and a
        new broker numbers its offsets from 0 again, so against the saturation phase's
        database the phase's first records were taken for redeliveries and never written
        (the phase then waited out its stall and measured the survivors only)."""
        result = PipelineRun()
        endpoints = self.broker_with_city(None)
        worker, result.startup_s = self._start(endpoints, f"worker-{number}", 1000 * number)
        spy: subprocess.Popen[bytes] | None = None
        try:
            assert worker.process is not None
            records = self.records(number)
            result.idle = idle_cores(worker.process.pid)
            if profile_to is not None:
                spy = profile(worker.process.pid, profile_to)
            before = cpu_seconds(worker.process.pid)
            since = asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, records))
            result.saturation = asyncio.run(
                wait_drained(endpoints.database_url, since, ids(records))
            )
            result.cpu_s = cpu_seconds(worker.process.pid) - before
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(30)
            result.rss_bytes = vm_hwm_bytes(worker.process.pid)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait()
            worker.stop()
        for i, rate in enumerate(() if profile_to else self.latency_rates):
            phase = self.broker_with_city(None)
            seed = 1000 * number + 10 * (i + 1)
            worker, _ = self._start(phase, f"worker-{number}-{rate:.0f}", seed)
            try:
                # a new worker reads its grids' cases as their first events arrive: warm-up
                # at the phase's rate first, so the figure is the steady state's
                self._play(phase, seed + 1, rate, _WARM_UP_S)
                result.latencies.append(self._latency(phase, seed + 2, rate))
            finally:
                worker.stop()
        return result

    def broker_with_city(self, database_url: str | None) -> Endpoints:
        """A new broker with the city published to it; a new database unless one is given."""
        self.stack.fresh_broker()
        asyncio.run(publish_city(self.stack.bootstrap, self.city, progress=False))
        if database_url is None:
            return self.stack.fresh_endpoints("pipeline")
        return self.stack.endpoints(database_url)

    def _start(self, endpoints: Endpoints, name: str, seed: int) -> tuple[WorkerProcess, float]:
        """A worker, started with one event waiting; returns it and the seconds from its
        spawn to that event's commit (the start-up figure)."""
        worker = WorkerProcess(
            endpoints,
            self.work_dir / name,
            self.work_dir / f"{name}.log",
            worker_env(self.constant_classifier),
        )
        probe = self.probe(seed)
        asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, probe))
        started = time.time()
        worker.start()
        try:
            first = asyncio.run(wait_drained(endpoints.database_url, started, ids(probe)))
        except BaseException:
            worker.stop()
            raise
        return worker, first.last_commit - started

    def _play(self, endpoints: Endpoints, seed: int, rate: float, seconds: float) -> float:
        """Publish `seconds` of events at `rate`, paced, and wait until all are committed;
        returns the wall time of the first publish."""
        records = simulated(self.city, rate, seconds, seed=seed)
        since = asyncio.run(publish_paced(endpoints.kafka_bootstrap, records))
        asyncio.run(wait_drained(endpoints.database_url, since, ids(records)))
        return since

    def _latency(self, endpoints: Endpoints, seed: int, rate: float) -> Latency:
        since = self._play(endpoints, seed, rate, self.latency_seconds)
        return Latency(
            rate,
            asyncio.run(commit_latencies(endpoints.database_url, since)),
            asyncio.run(dispatch_latencies(endpoints, since)),
        )


def summary(latency: Latency) -> dict[str, float]:
    return {
        f"{what}_p{q}": percentile(values, q)
        for what, values in (("commit", latency.commit_ms), ("dispatch", latency.dispatch_ms))
        for q in (50, 95, 99)
    }
