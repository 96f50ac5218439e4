"""Scale-out: the pipeline with two `civicgrid run` processes of one app (one consumer group)
sharing the same 4 partitions, fed the records of the one-worker pipeline run of the same
invocation (`PipelineBench.records`), so `2 workers / 1 worker` compares the same work.

Both workers start together against a fresh broker (the city published to it) and a fresh
database; the clock starts only once both are ready, a warm-up of the city's mix has gone
through, and both are ready again (the group has settled: a second join is a rebalance).
CPU per event is the two processes' CPU together (`/proc/<pid>/stat`) over the rows; each
worker's share of the inbound records is read from its own `/metrics`."""

import asyncio
import os
import urllib.request
from dataclasses import dataclass

from benchmarks.load import publish_flat_out, simulated
from benchmarks.pipeline import Drained, PipelineBench, cpu_seconds, ids, wait_drained, worker_env
from civicgrid.topics import catalogue as topics
from tools.workerproc import WorkerProcess

READY_TIMEOUT_S = 180.0
_WARM_UP_EVENTS = 200


@dataclass
class ScaleOut:
    workers: int
    drained: Drained
    cpu_s: list[float]  # per worker, from the first publish to the last row
    records_in: list[float]  # per worker, inbound records consumed in the same span

    @property
    def rate(self) -> float:
        return self.drained.rate

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * sum(self.cpu_s) / max(self.drained.rows, 1)

    @property
    def shares(self) -> list[float]:
        """Each worker's share of the inbound records: both at work, or one idle."""
        total = sum(self.records_in)
        return [n / total if total else 0.0 for n in self.records_in]


def cores() -> str:
    """What the figure must be read against: the CPUs this process may use, of the machine's."""
    return f"{len(os.sched_getaffinity(0))} of {os.cpu_count()} CPUs"


def inbound_records(metrics_text: str) -> float:
    """`civicgrid_events_in_total` summed over its topics, from a worker's /metrics."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("civicgrid_events_in_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _records_in(worker: WorkerProcess) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
        return inbound_records(r.read().decode())


def run(bench: PipelineBench, number: int, workers: int = 2) -> ScaleOut:
    """`workers` workers of one group on run `number`'s records."""
    endpoints = bench.broker_with_city(None)
    label = "stub" if bench.constant_classifier else "real"
    procs = [
        WorkerProcess(
            endpoints,
            bench.work_dir / f"scale-{label}-{number}-{i}",
            bench.work_dir / f"scale-{label}-{number}-{i}.log",
            worker_env(bench.constant_classifier),
        ).start()
        for i in range(workers)
    ]
    try:
        for worker in procs:
            worker.wait_ready(READY_TIMEOUT_S)
        # no reports in the warm-up: the one-worker run starts with a cold encoder cache too
        warm = [
            r
            for r in simulated(bench.city, _WARM_UP_EVENTS, 1, seed=1000 * number + 7)
            if r.topic != topics.REPORTS.name
        ]
        asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, warm))
        asyncio.run(wait_drained(endpoints.database_url, 0.0, ids(warm)))
        for worker in procs:
            worker.wait_ready(READY_TIMEOUT_S)
        pids = [_pid(worker) for worker in procs]
        cpu_before = [cpu_seconds(pid) for pid in pids]
        in_before = [_records_in(worker) for worker in procs]
        records = bench.records(number)
        since = asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, records))
        drained = asyncio.run(wait_drained(endpoints.database_url, since, ids(records)))
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
        records_in = [
            _records_in(worker) - before for worker, before in zip(procs, in_before, strict=True)
        ]
    finally:
        for worker in procs:
            worker.stop()
    return ScaleOut(workers, drained, cpu, records_in)


def _pid(worker: WorkerProcess) -> int:
    assert worker.process is not None
    return worker.process.pid


def describe(run: ScaleOut) -> str:
    split = " / ".join(f"{share:.0%}" for share in run.shares)
    return (
        f"{run.workers} workers: {run.drained.rows:,}/{run.drained.expected:,} rows, "
        f"{run.rate:,.0f} ev/s, {run.cpu_ms_per_event:.2f} ms CPU/event, records split {split}"
    )
