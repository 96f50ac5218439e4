"""Worker peak RSS with the Taizhou-scale registry (~1 M records) loaded and events flowing."""

import asyncio
from pathlib import Path

from benchmarks.load import publish_flat_out, simulated
from benchmarks.pipeline import ids, vm_hwm_bytes, wait_drained, worker_env
from benchmarks.stack import BenchStack
from tools.city.model import City
from tools.workerproc import WorkerProcess

READY_TIMEOUT_S = 900.0  # the registry is read in full before the worker reports ready


def peak_rss(stack: BenchStack, city: City, number: int, events: int, work_dir: Path) -> int:
    """VmHWM of a worker that loaded the registry and then processed `events` events."""
    endpoints = stack.fresh_endpoints("taizhou")
    worker = WorkerProcess(
        endpoints,
        work_dir / f"taizhou-{number}",
        work_dir / f"taizhou-{number}.log",
        worker_env(),
    ).start()
    try:
        worker.wait_ready(READY_TIMEOUT_S)
        records = simulated(city, events / 5, 5, seed=7000 + number)
        since = asyncio.run(publish_flat_out(endpoints.kafka_bootstrap, records))
        asyncio.run(wait_drained(endpoints.database_url, since, ids(records)))
        assert worker.process is not None
        return vm_hwm_bytes(worker.process.pid)
    finally:
        worker.stop()
