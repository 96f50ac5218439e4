"""What every service command does first: settings, logging, services, schema and topics."""

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

import asyncpg
import click

from civicgrid.db.migrate import migrate
from civicgrid.db.pool import drop_database, wait_for_database
from civicgrid.embedded.process import EmbeddedServiceError
from civicgrid.embedded.stack import Endpoints, services
from civicgrid.kafka_admin import create_topics
from civicgrid.logs import configure_logging
from civicgrid.settings import Settings, SettingsError, load_settings


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the embedded services
    raise KeyboardInterrupt


@contextlib.contextmanager
def stack(settings: Settings, *, fresh: bool = False) -> Iterator[Endpoints]:
    """The services, embedded where not configured, with schema and topics in place;
    `fresh` starts an embedded database empty (a configured one is never dropped)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with services(settings) as endpoints:
            if fresh and endpoints.embedded_postgres:
                asyncio.run(drop_database(endpoints.database_url))
            asyncio.run(prepare(endpoints, settings.partitions))
            yield endpoints
    except EmbeddedServiceError as error:
        raise click.ClickException(str(error)) from None


async def prepare(endpoints: Endpoints, partitions: int) -> None:
    await prepare_database(endpoints.database_url)
    await create_topics(endpoints.kafka, partitions)


async def prepare_database(url: str) -> None:
    await wait_for_database(url)
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)
    finally:
        await connection.close()


verbose_option = click.option(
    "-v", "--verbose", is_flag=True, help="Log the start-up (embedded PostgreSQL, migrations)."
)


def reader_settings(verbose: bool) -> Settings:
    """A read-only command's settings: its output is a table, so logs below WARNING only
    with -v."""
    try:
        settings = load_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_format, settings.log_level if verbose else "WARNING")
    return settings


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """PostgreSQL alone, migrated: the configured one, else the embedded one in the data dir
    the worker and `civicgrid demo` use. No broker: readers answer from PostgreSQL (the
    state mirror holds the registry and grids)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with services(settings, kafka=False) as endpoints:
            asyncio.run(prepare_database(endpoints.database_url))
            yield endpoints.database_url
    except EmbeddedServiceError as error:
        raise click.ClickException(str(error)) from None


def echo_err(message: str) -> None:
    click.echo(message, file=sys.stderr)
