"""A stop commits nothing that is not written, and ends in bounded time (issue 16, items 1
and 6), proved on real worker processes, a real broker and a real PostgreSQL."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from civicgrid.cli.common import prepare
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.worker import EXIT_STOP_TIMED_OUT
from tests.support.database import unaccounted
from tests.support.kafka import publish_tracked
from tests.support.proxy import TcpProxy
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.faults import event_stream
from tools.workerproc import WorkerProcess

# the leader's wall-clock timers add nothing here but load
_QUIET = {"CIVICGRID_SLA_CHECK_SECONDS": "86400", "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400"}


def _through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


def _wait_status(worker: WorkerProcess, status: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if worker.health() == status:
            return True
        time.sleep(0.25)
    return False


def test_sigterm_while_postgres_is_unreachable_commits_nothing_unwritten(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    """The grid stage waits out the outage holding a batch; SIGTERM cancels it. Faust acks a
    cancelled take and commits on the way out: those records were in none of the tables
    and their offsets committed. Now the stop leaves them uncommitted, the next worker
    reads them again, and every published offset is accounted for."""
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    records = event_stream(city, 1200, seed=16)
    pg = urlsplit(endpoints.database_url)
    assert pg.hostname is not None
    assert pg.port is not None
    proxy = TcpProxy(pg.hostname, pg.port).restore()
    try:
        env = {"CIVICGRID_DATABASE_URL": _through(endpoints.database_url, proxy), **_QUIET}
        worker = start_worker(**env)
        worker.wait_ready()
        bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
        published = asyncio.run(publish_tracked(bootstrap, records[:600]))
        assert asyncio.run(unaccounted(url, published)) == set()

        proxy.cut()  # PostgreSQL unreachable for the worker, alive for the test
        published |= asyncio.run(publish_tracked(bootstrap, records[600:]))
        assert _wait_status(worker, 503, 20), "readiness did not report the outage"
        time.sleep(2.0)  # the grid stage is in its retry loop, a batch in hand
        stopped = time.monotonic()
        assert worker.stop(timeout=60) in (0, EXIT_STOP_TIMED_OUT)
        assert time.monotonic() - stopped < 45

        proxy.restore()
        start_worker(**env).wait_ready()
        assert asyncio.run(unaccounted(url, published)) == set()
    finally:
        proxy.close()


def test_a_worker_whose_broker_is_gone_stops_within_the_bound(
    database_url: str, tmp_path: Path
) -> None:
    """With the broker killed, Faust's stop waits out request timeouts at every step (seen:
    over 90 s until SIGKILL). The stop is bounded by CIVICGRID_STOP_TIMEOUT_SECONDS."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    endpoints = Endpoints(
        KafkaConnection.plaintext(broker.bootstrap),
        database_url,
        embedded_kafka=True,
        embedded_postgres=False,
    )
    worker = WorkerProcess(
        endpoints,
        tmp_path / "worker",
        tmp_path / "worker.log",
        {
            "CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef",
            "CIVICGRID_STOP_TIMEOUT_SECONDS": "4",
            **_QUIET,
        },
    )
    try:
        asyncio.run(prepare(endpoints, partitions=4))
        city = generate_city("demo", 7)
        asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
        worker.start().wait_ready()
        asyncio.run(publish_tracked(broker.bootstrap, event_stream(city, 300, seed=6)))
        assert broker.process is not None
        broker.process.kill()  # the broker is gone, not stopping politely
        broker.process.wait()
        time.sleep(1.0)
        stopped = time.monotonic()
        code = worker.stop(timeout=60)
        took = time.monotonic() - stopped
        assert took < 4 + 5, f"the stop took {took:.0f} s"
        assert code in (0, EXIT_STOP_TIMED_OUT)
    finally:
        worker.kill()
        broker.stop()
