"""Cost curves: worker CPU per event and RSS as the registry grows (demo, ten times the demo,
Taizhou scale) and as the open cases per grid grow (demo city, one worker, the case book
filled by reports between measured phases).

Every point runs the worker with the classifier stubbed (`CIVICGRID_BENCH_CONSTANT_CLASSIFIER`):
the encoder costs the same per report whatever the registry or the case book hold, and at
~40 ms a report it would bury what these curves are about. The stub gives every report one
category, so reports at one code join one case more often than with the real classifier;
the open-case axis is counted in PostgreSQL (`cases.is_open`), not assumed.

A point's CPU is the worker's (`/proc/<pid>/stat`) over a measured phase of the city's mix,
after a warm-up phase of the same size (a grid's case book is read on the first event of
the grid; at Taizhou scale a phase of a few thousand events still meets many grids for the
first time, and the figure includes that, as a real worker would pay it). RSS: VmRSS once
the worker is ready (registry loaded, state mirror loaded) and VmHWM after the phase."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchmarks.load import Record, publish_flat_out, simulated
from benchmarks.pipeline import cpu_seconds, ids, vm_hwm_bytes, wait_drained, worker_env
from benchmarks.stack import BenchStack
from civicgrid.topics import catalogue as topics
from tools.city.model import City
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

READY_TIMEOUT_S = 900.0  # the Taizhou registry is read in full before the worker is ready
MIRROR_TIMEOUT_S = 900.0
_MIRROR_LOADED = "state mirror loaded"


@dataclass
class CostPoint:
    axis: str  # "registry" or "cases"
    label: str
    codes: int
    grids: int
    open_cases_per_grid: float  # mean over the city's grids, at the start of the phase
    max_open_cases: int  # in the fullest grid
    events: int
    cpu_s: float
    rss_ready_bytes: int
    rss_peak_bytes: int

    @property
    def cpu_us_per_event(self) -> float:
        return 1e6 * self.cpu_s / max(self.events, 1)


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_for_line(log_path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists() and text in log_path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{text!r} not in {log_path} within {timeout:.0f} s")


async def open_cases(database_url: str) -> tuple[int, int]:
    """(open cases in all, open cases in the fullest grid)."""
    connection = await asyncpg.connect(database_url)
    try:
        total = await connection.fetchval("SELECT count(*) FROM cases WHERE is_open")
        fullest = await connection.fetchval(
            "SELECT coalesce(max(n), 0) FROM "
            "(SELECT count(*) AS n FROM cases WHERE is_open GROUP BY grid_id) AS per_grid"
        )
    finally:
        await connection.close()
    return int(total), int(fullest)


class _Worker:
    """One stubbed-classifier worker, ready and with its state mirror loaded."""

    def __init__(self, stack: BenchStack, name: str, work_dir: Path) -> None:
        self.endpoints = stack.fresh_endpoints(name.replace("-", "_"))
        self.log = work_dir / f"{name}.log"
        self.worker = WorkerProcess(
            self.endpoints, work_dir / name, self.log, worker_env(constant_classifier=True)
        )

    def __enter__(self) -> "_Worker":
        self.worker.start()
        try:
            self.worker.wait_ready(READY_TIMEOUT_S)
            wait_for_line(self.log, _MIRROR_LOADED, MIRROR_TIMEOUT_S)
        except BaseException:
            self.worker.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()

    @property
    def pid(self) -> int:
        assert self.worker.process is not None
        return self.worker.process.pid

    def drain(self, records: Sequence[Record]) -> None:
        since = asyncio.run(publish_flat_out(self.endpoints.kafka_bootstrap, records))
        drained = asyncio.run(wait_drained(self.endpoints.database_url, since, ids(records)))
        if drained.rows < drained.expected:
            raise RuntimeError(f"the worker stalled at {drained.rows:,}/{drained.expected:,}")

    def phase(self, city: City, axis: str, label: str, events: int, seed: int) -> CostPoint:
        """One measured phase of the city's mix; the point as it stood when it began."""
        total, fullest = asyncio.run(open_cases(self.endpoints.database_url))
        rss_ready = vm_rss_bytes(self.pid)
        records = simulated(city, events / 5, 5, seed=seed)
        before = cpu_seconds(self.pid)
        self.drain(records)
        return CostPoint(
            axis,
            label,
            city.code_total,
            len(city.grids),
            total / len(city.grids),
            fullest,
            len(records),
            cpu_seconds(self.pid) - before,
            rss_ready,
            vm_hwm_bytes(self.pid),
        )


def registry_point(
    stack: BenchStack,
    city: City,
    events: int,
    number: int,
    work_dir: Path,
    publish: bool = True,
) -> CostPoint:
    """The city's registry on the stack's broker (published to a fresh one unless `publish`
    is False: the caller has published it), a warm-up phase, then the measured one."""
    if publish:
        stack.fresh_broker()
        asyncio.run(publish_city(stack.bootstrap, city, progress=False))
    with _Worker(stack, f"cost-{city.scale}-{number}", work_dir) as worker:
        worker.drain(simulated(city, events / 5, 5, seed=8000 + 10 * number))
        return worker.phase(city, "registry", city.scale, events, 8001 + 10 * number)


def reports_only(city: City, count: int, seed: int) -> list[Record]:
    """`count` reports of the city's mix (the simulator's rate is the whole mix's)."""
    wanted = [topics.REPORTS.name]
    share = max(len(simulated(city, 200, 10, seed=seed, topics=wanted)), 1) / 2000
    rate = 1.2 * count / share / 10
    while True:
        records = simulated(city, rate, 10, seed=seed, topics=wanted)
        if len(records) >= count:
            return records[:count]
        rate *= 1.5


def case_points(
    stack: BenchStack,
    city: City,
    fills: Sequence[int],
    events: int,
    number: int,
    work_dir: Path,
) -> list[CostPoint]:
    """One worker and one database: before each measured phase, reports up to `fills[i]`
    reports per grid in all (cumulative), so its case book grows from phase to phase."""
    stack.fresh_broker()
    asyncio.run(publish_city(stack.bootstrap, city, progress=False))
    reports = reports_only(city, max(fills, default=0) * len(city.grids), seed=9000 + number)
    points = []
    with _Worker(stack, f"cost-cases-{number}", work_dir) as worker:
        worker.drain(simulated(city, events / 5, 5, seed=9100 + number))  # warm-up
        sent = 0
        for i, per_grid in enumerate(fills):
            upto = per_grid * len(city.grids)
            if upto > sent:
                worker.drain(reports[sent:upto])
                sent = upto
            seed = 9200 + 10 * number + i
            points.append(worker.phase(city, "cases", f"{per_grid} reports/grid", events, seed))
    return points
