"""The services civicgrid runs against: configured ones, or embedded ones it starts and stops."""

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: str
    embedded_kafka: bool
    embedded_postgres: bool

    def environment(self) -> dict[str, str]:
        """What a child `civicgrid` process needs to use these same services."""
        return {
            "CIVICGRID_KAFKA_BROKER": self.kafka_bootstrap,
            "CIVICGRID_DATABASE_URL": self.database_url,
        }


@contextlib.contextmanager
def services(settings: Settings, *, kafka: bool = True) -> Iterator[Endpoints]:
    """Yield the endpoints; embedded services are stopped on exit, whatever the exit.
    Without `kafka` only PostgreSQL is provided (`kafka_bootstrap` is then empty)."""
    run_dir = settings.data_dir.resolve()
    broker = None if settings.kafka_broker or not kafka else EmbeddedBroker(run_dir)
    postgres = None if settings.database_url else EmbeddedPostgres(run_dir)
    try:
        if postgres is not None:
            postgres.start()
        if broker is not None:
            broker.start()
        configured = settings.kafka_broker if kafka else None
        yield Endpoints(
            kafka_bootstrap=broker.bootstrap if broker else configured or "",
            database_url=settings.database_url or (postgres.url if postgres else ""),
            embedded_kafka=broker is not None,
            embedded_postgres=postgres is not None,
        )
    finally:
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
