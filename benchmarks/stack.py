"""The services a benchmark runs against: an embedded Tansu broker and one PostgreSQL server,
shared by the pipeline and every baseline of an invocation, with a fresh database per run.

Tansu's memory storage gets slower as its topics grow: at the same 1,000 ev/s offered its CPU
rose from ~50 % to ~80 % of a core over three 10,000-event pipeline runs on one broker, and the
pipeline's p99 with it (194 -> 351 -> 605 ms). So each pipeline run starts on a new, empty
broker (`fresh_broker`) instead of inheriting the topics of the runs before it; the baselines
create fresh topics per run already."""

import asyncio
import contextlib
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from civicgrid.cli.common import prepare
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection

PARTITIONS = 4


@dataclass
class BenchStack:
    root: Path
    broker: EmbeddedBroker
    postgres: EmbeddedPostgres
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def fresh_broker(self) -> None:
        """Replace the broker by a new, empty one (see the module's docstring)."""
        self.broker.stop()
        self.broker = EmbeddedBroker(self.root / f"broker-{next(self._numbers)}")
        self.broker.start()

    def fresh_endpoints(self, label: str) -> Endpoints:
        """A new, migrated database on the shared server, and the catalogue's topics."""
        name = f"bench_{label}_{next(self._numbers)}"
        url = self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

        async def create() -> None:
            connection = await asyncpg.connect(self.postgres.admin_url)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())
        return self.endpoints(url)

    def endpoints(self, database_url: str) -> Endpoints:
        """The current broker, with the catalogue's topics, and the given (migrated) database."""
        endpoints = Endpoints(
            KafkaConnection.plaintext(self.bootstrap),
            database_url,
            embedded_kafka=True,
            embedded_postgres=True,
        )
        asyncio.run(prepare(endpoints, PARTITIONS))
        return endpoints


@contextlib.contextmanager
def bench_stack(label: str, keep: Path | None = None) -> Iterator[BenchStack]:
    """Both services in a temporary directory (or `keep`, to read their logs afterwards)."""
    with contextlib.ExitStack() as stack:
        root = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=label)))
        postgres = EmbeddedPostgres(root / "postgres")
        broker = EmbeddedBroker(root / "broker")
        postgres.start()
        stack.callback(postgres.stop)
        broker.start()
        bench = BenchStack(root, broker, postgres)
        stack.callback(lambda: bench.broker.stop())
        yield bench
