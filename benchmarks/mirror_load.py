"""What the state mirror costs with the Taizhou-scale registry (~1 M codes): a worker's start
on an empty mirror (it writes every row) against a restart on a full one (it writes none),
and the read `civicgrid assess` makes of the mirror.

    python -m benchmarks.mirror_load [--scale taizhou|demo]

Prints one line per figure; docs/operations.md keeps the measured numbers.
"""

import argparse
import asyncio
import re
import time
from pathlib import Path

from benchmarks.pipeline import worker_env
from benchmarks.rss import READY_TIMEOUT_S
from benchmarks.stack import bench_stack
from civicgrid.db.assessment import mirrored_population
from civicgrid.db.pool import create_pool
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.embedded.stack import Endpoints
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

_LOADED = re.compile(r"state mirror loaded.*?rows=(\d+).*?seconds=([\d.]+)")


def _start(endpoints: Endpoints, work_dir: Path, name: str) -> tuple[float, float, int]:
    """Seconds to ready, seconds to the mirror loaded (from the worker's start), rows."""
    log_path = work_dir / f"{name}.log"
    started = time.monotonic()
    worker = WorkerProcess(endpoints, work_dir / name, log_path, worker_env()).start()
    try:
        worker.wait_ready(READY_TIMEOUT_S)
        ready = time.monotonic() - started
        while (found := _LOADED.search(log_path.read_text())) is None:
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise TimeoutError(f"no 'state mirror loaded' in {log_path}")
            time.sleep(0.2)
        return ready, time.monotonic() - started, int(found.group(1))
    finally:
        worker.stop()


async def _read(url: str) -> tuple[float, int, int]:
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as connection:
            started = time.perf_counter()
            grids = await mirrored_population(connection, KeyedHasher(b"bench-key-0123456789"))
            seconds = time.perf_counter() - started
            sizes = await connection.fetchval(
                "SELECT pg_total_relation_size('mirror_codes') + "
                "pg_total_relation_size('mirror_grids')"
            )
    finally:
        await pool.close()
    return seconds, sum(len(p.codes) for p in grids.values()), int(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["taizhou", "demo"], default="taizhou")
    args = parser.parse_args()
    city = generate_city(args.scale)
    with bench_stack("civicgrid-bench-mirror-") as stack:
        started = time.monotonic()
        asyncio.run(publish_city(stack.bootstrap, city, progress=False))
        print(
            f"published {len(city.grids):,} grids, {city.code_total:,} codes "
            f"in {time.monotonic() - started:.1f} s"
        )
        endpoints = stack.fresh_endpoints("mirror")
        work_dir = stack.root / "workers"
        for name in ("empty-mirror", "full-mirror"):
            ready, loaded, rows = _start(endpoints, work_dir, name)
            print(
                f"{name}: ready {ready:.1f} s, mirror loaded {loaded:.1f} s, {rows:,} rows written"
            )
        seconds, codes, size = asyncio.run(_read(endpoints.database_url))
        print(
            f"assess's read of the mirror: {codes:,} codes in {seconds:.2f} s; "
            f"mirror tables {size / 2**20:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
