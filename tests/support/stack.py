"""A fresh embedded broker and database on the suite's PostgreSQL server, migrated and with
the topics created: the stack a module or package of tests shares."""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from civicgrid.cli.common import prepare
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection


async def admin(server_url: str, sql: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_stack(postgres_server: str, directory: Path, partitions: int = 4) -> Iterator[Endpoints]:
    name = f"civicgrid_test_{uuid.uuid4().hex[:12]}"
    broker = EmbeddedBroker(directory / "broker")
    broker.start()
    asyncio.run(admin(postgres_server, f'CREATE DATABASE "{name}"'))
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
        found = Endpoints(
            KafkaConnection.plaintext(broker.bootstrap),
            url,
            embedded_kafka=True,
            embedded_postgres=False,
        )
        asyncio.run(prepare(found, partitions=partitions))
        yield found
    finally:
        broker.stop()
        # a forced drop now and then loses its own connection while it ends a worker's
        # (seen on this machine); the drop is idempotent, so it is tried again
        for attempt in range(3):
            try:
                asyncio.run(admin(postgres_server, drop))
                break
            except asyncpg.exceptions.ConnectionDoesNotExistError:
                if attempt == 2:
                    raise
