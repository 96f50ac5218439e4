"""Fixtures of real components: an embedded Tansu per test, PostgreSQL (the configured one
when CIVICGRID_DATABASE_URL is set, else embedded) with a fresh database per test, and
`civicgrid run` worker processes."""

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from civicgrid.cli.common import prepare
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection
from tools.workerproc import WorkerProcess

# The tests' own settings must not leak from the developer's shell into workers.
for _name in [
    n for n in os.environ if n.startswith("CIVICGRID_") and n != "CIVICGRID_DATABASE_URL"
]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server URL (any database on it); the suite creates a database per test."""
    configured = os.environ.get("CIVICGRID_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server.admin_url
    finally:
        server.stop()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    name = f"civicgrid_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(postgres_server)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(postgres_server, name)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedBroker(tmp_path / "broker")
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture
def endpoints(broker: str, database_url: str) -> Endpoints:
    """Migrated database and created topics, as `civicgrid run` would leave them."""
    found = Endpoints(
        KafkaConnection.plaintext(broker),
        database_url,
        embedded_kafka=True,
        embedded_postgres=False,
    )
    asyncio.run(prepare(found, partitions=4))
    return found


@pytest.fixture
def start_worker(endpoints: Endpoints, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `civicgrid run` processes; each is stopped (or found dead) at the end."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        number = len(started)
        worker = WorkerProcess(
            endpoints,
            tmp_path / f"worker-{number}",
            tmp_path / f"worker-{number}.log",
            {"CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef", **env},
        ).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
