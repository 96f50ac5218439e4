"""`civicgrid api` under concurrent load on the demo city: `GET requests/{id}.json` and the
resident's page `/c/{code}`, p50 / p99 latency and requests/s.

    python -m benchmarks.api_load [--seconds S] [--concurrency C]

The demo city's events go through a real worker first, so the API reads real cases, their
first reports and their histories. The load generator is one asyncio process with C
connections kept alive, on the same 2 cores as the API, the worker, the broker and
PostgreSQL: the figures are what one API process gives beside the rest of the stack, not
alone. Writes benchmarks/results/api.md; `make bench` puts the same table in RESULTS.md.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks.pipeline import worker_env
from benchmarks.stack import BenchStack, bench_stack
from civicgrid.domain.privacy import KeyedHasher, case_link_secret
from civicgrid.domain.taxonomy import Taxonomy
from tools import demo
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import ApiProcess, WorkerProcess

RESULTS = Path(__file__).resolve().parent / "results" / "api.md"
DEMO_EVENTS = 3000


@dataclass(frozen=True)
class LoadFigure:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def _load(name: str, urls: list[str], seconds: float, concurrency: int) -> LoadFigure:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal errors
        n = offset
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.get(urls[n % len(urls)]) as answer:
                await answer.read()
                if answer.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)
            n += concurrency

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(client(session, i) for i in range(concurrency)))
        took = time.monotonic() - began
    cuts = statistics.quantiles(latencies, n=100)
    return LoadFigure(name, len(latencies), errors, took, cuts[49] * 1000, cuts[98] * 1000)


async def _public_cases(database_url: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT case_code FROM cases WHERE category = ANY($1) ORDER BY case_code",
            [c.code for c in Taxonomy.default() if c.public],
        )
    finally:
        await connection.close()
    return [r["case_code"] for r in rows]


def measure(
    stack: BenchStack, work_dir: Path, seconds: float, concurrency: int
) -> list[LoadFigure]:
    stack.fresh_broker()
    endpoints = stack.fresh_endpoints("api")
    asyncio.run(publish_city(endpoints.kafka_bootstrap, generate_city("demo"), progress=False))
    worker = WorkerProcess(
        endpoints, work_dir / "api-worker", work_dir / "api-worker.log", worker_env()
    ).start()
    try:
        worker.wait_ready()
        run = demo.DemoRun()
        asyncio.run(demo.publish_events(endpoints.kafka, DEMO_EVENTS, 7, run))
        published = sum(run.published.values())
        asyncio.run(demo.wait_accounted(endpoints.database_url, published, 180))
        codes = asyncio.run(_public_cases(endpoints.database_url))
        api = ApiProcess(endpoints, work_dir / "api", work_dir / "api.log", worker_env()).start()
        api.wait_ready(60)
        try:
            hasher = KeyedHasher(worker_env()["CIVICGRID_PSEUDONYM_KEY"].encode())
            requests = [f"{api.url}/open311/v2/requests/{c}.json" for c in codes]
            pages = [f"{api.url}/c/{c}?k={case_link_secret(hasher, c)}" for c in codes]
            return [
                asyncio.run(_load("GET requests/{id}.json", requests, seconds, concurrency)),
                asyncio.run(_load("GET /c/{code} (case page)", pages, seconds, concurrency)),
            ]
        finally:
            api.stop()
    finally:
        worker.stop()


def table(figures: list[LoadFigure], concurrency: int) -> list[str]:
    lines = [
        "## HTTP API under load (`civicgrid api`, demo city)",
        "",
        f"One API process; {concurrency} concurrent keep-alive clients from one asyncio process "
        "on the same machine as the API, worker, broker and PostgreSQL, cycling through every "
        "public case of the demo run.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | requests | non-200 |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {f.name} | {f.per_second:,.0f} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | "
        f"{f.requests:,} | {f.errors} |"
        for f in figures
    ]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="civicgrid-api-bench-"))
    with bench_stack("civicgrid-api-bench-") as stack:
        figures = measure(stack, work_dir, args.seconds, args.concurrency)
    lines = table(figures, args.concurrency)
    RESULTS.write_text("\n".join(["# API load", "", *lines[2:]]))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
