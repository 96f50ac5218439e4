"""The services civicgrid runs against: configured ones, or embedded ones it starts and stops."""

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    kafka_connection: KafkaConnection | None  # None: started without Kafka
    database_url: str
    embedded_kafka: bool
    embedded_postgres: bool

    @property
    def kafka(self) -> KafkaConnection:
        if self.kafka_connection is None:
            raise RuntimeError("these services were started without Kafka")
        return self.kafka_connection

    @property
    def kafka_bootstrap(self) -> str:
        """The brokers' addresses, for messages (clients take `kafka`)."""
        return self.kafka_connection.bootstrap if self.kafka_connection else ""

    def environment(self) -> dict[str, str]:
        """What a child `civicgrid` process needs to use these same services (a secured
        cluster's settings it inherits from this process's environment)."""
        found = {"CIVICGRID_DATABASE_URL": self.database_url}
        if self.kafka_connection is not None:
            found["CIVICGRID_KAFKA_BROKER"] = self.kafka_connection.bootstrap
            if self.kafka_connection.tansu:
                found["CIVICGRID_KAFKA_TANSU"] = "true"
        return found


@contextlib.contextmanager
def services(settings: Settings, *, kafka: bool = True) -> Iterator[Endpoints]:
    """Yield the endpoints; embedded services are stopped on exit, whatever the exit.
    Without `kafka` only PostgreSQL is provided (`kafka_connection` is then None)."""
    run_dir = settings.data_dir.resolve()
    broker = None if settings.kafka_broker or not kafka else EmbeddedBroker(run_dir)
    postgres = None if settings.database_url else EmbeddedPostgres(run_dir)
    try:
        if postgres is not None:
            postgres.start()
        if broker is not None:
            broker.start()
        yield Endpoints(
            kafka_connection=(
                KafkaConnection.from_settings(settings, broker.bootstrap if broker else None)
                if kafka
                else None
            ),
            database_url=settings.database_url or (postgres.url if postgres else ""),
            embedded_kafka=broker is not None,
            embedded_postgres=postgres is not None,
        )
    finally:
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
