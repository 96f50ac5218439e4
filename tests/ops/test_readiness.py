"""Readiness follows PostgreSQL: an idle worker turns 503 while the database is down and 200
again once it is back, without an event having to fail first (the sink probe in web.py).

The test stops and restarts its own embedded PostgreSQL, not the suite's shared server.
"""

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from civicgrid.cli.common import prepare
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection
from tools.workerproc import WorkerProcess

# The probe runs every 2 s with a 3 s timeout; this leaves room for a loaded machine.
FLIP_WITHIN_S = 20.0


def ready_body(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{worker.port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), json.load(response)
    except urllib.error.HTTPError as error:
        return int(error.code), json.load(error)


def wait_for_status(
    worker: WorkerProcess, status: int, sink_writable: bool | None = None
) -> dict[str, Any]:
    """Poll /health/ready until it answers `status` (and, if given, that `sink_writable`);
    return that answer's checks."""
    deadline = time.monotonic() + FLIP_WITHIN_S
    answer: tuple[int, dict[str, Any]] = (0, {})
    while time.monotonic() < deadline:
        answer = ready_body(worker)
        wanted = sink_writable is None or answer[1].get("sink_writable") is sink_writable
        if answer[0] == status and wanted:
            return answer[1]
        time.sleep(0.2)
    raise AssertionError(f"/health/ready stayed {answer} for {FLIP_WITHIN_S} s, not {status}")


def test_readiness_is_503_while_postgres_is_down(broker: str, tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "postgres")
    postgres.start()
    try:
        endpoints = Endpoints(
            KafkaConnection.plaintext(broker),
            postgres.url,
            embedded_kafka=True,
            embedded_postgres=True,
        )
        asyncio.run(prepare(endpoints, partitions=4))
        worker = WorkerProcess(
            endpoints,
            tmp_path / "worker",
            tmp_path / "worker.log",
            {"CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef"},
        ).start()
        try:
            worker.wait_ready()
            assert wait_for_status(worker, 200)["sink_writable"] is True

            postgres.stop()
            down = wait_for_status(worker, 503, sink_writable=False)
            # no event is waiting, but the household reconciliation's timer may already be
            # waiting for the database too: whether it is depends on when it last ran
            flowing = down.pop("stages_flowing")
            assert isinstance(flowing, bool)
            assert down == {
                "ready": False,
                "registry_loaded": True,
                "registry_following": True,
                "partitions_assigned": True,
                "sink_writable": False,
            }
            assert worker.health("/health/live") == 200  # not ready, but nothing to restart

            postgres.start()  # same data directory and the same port as before
            assert wait_for_status(worker, 200)["sink_writable"] is True
        finally:
            worker.stop()
    finally:
        postgres.stop()
