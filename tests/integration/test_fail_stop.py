"""An error the grid stage cannot handle stops the worker before the batch is acked, instead
of Faust acking and dropping it while the worker lives on without its agent."""

import asyncio
import time
from collections.abc import Callable

from civicgrid.embedded.stack import Endpoints
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.internal import DeadLetterBody, GridEnvelope, Origin
from civicgrid.topics import catalogue as topics
from tests.support.kafka import publish
from tools.workerproc import WorkerProcess


def _unstorable_envelope() -> bytes:
    # PostgreSQL cannot store NUL in text: even the envelope's own dead letter fails to
    # write, which no retry or split can mend.
    return (
        GridEnvelope(
            kind="dead_letter",
            grid_id="~deadletter/x",
            origin=Origin(topic="civic.reports.v1\x00", partition=0, offset=1),
            dead_letter=DeadLetterBody(kind=DeadLetterKind.SCHEMA, message="poison"),
        )
        .model_dump_json()
        .encode()
    )


def test_an_unhandled_error_stops_the_worker_without_acking(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    record = (topics.BY_GRID.name, "~deadletter/x", _unstorable_envelope())
    asyncio.run(publish(endpoints.kafka_bootstrap, [record]))
    # the second worker is given the same record again: the first never acked it
    for _ in range(2):
        worker = start_worker()
        assert _exit_code(worker) == 70
        log = worker.log_path.read_text(errors="replace")
        assert "unrecoverable error in grid stage" in log


def _exit_code(worker: WorkerProcess, wait_s: float = 90.0) -> int | None:
    assert worker.process is not None
    deadline = time.monotonic() + wait_s
    while worker.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return worker.process.returncode
