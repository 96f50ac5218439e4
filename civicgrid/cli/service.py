"""`civicgrid run`, `migrate` and `topics`: the service and its one-shot set-up jobs."""

import asyncio
import logging

import click

from civicgrid import worker
from civicgrid.cli.common import echo_err, settings_or_exit, stack
from civicgrid.kafka_admin import topic_status

log = logging.getLogger(__name__)


@click.command("run")
def run_command() -> None:
    """Run the pipeline until SIGINT or SIGTERM (embedded broker/database when unset)."""
    settings = settings_or_exit()
    try:
        with stack(settings) as endpoints:
            # Logged, not echoed: with CIVICGRID_LOG_FORMAT=json every line a service
            # writes must be one JSON object.
            kind = {True: "embedded", False: "configured"}
            log.info("broker %s (%s)", endpoints.kafka, kind[endpoints.embedded_kafka])
            database = _redacted(endpoints.database_url)
            log.info("database %s (%s)", database, kind[endpoints.embedded_postgres])
            log.info("metrics http://%s:%s/metrics", settings.web_host, settings.web_port)
            worker.run(settings, endpoints.kafka, endpoints.database_url)
    except KeyboardInterrupt:
        pass
    log.info("stopped")


@click.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations and create the topics, then exit (a one-shot job)."""
    settings = settings_or_exit()
    with stack(settings) as endpoints:
        echo_err(f"migrations applied and topics present on {endpoints.kafka}")


@click.group("topics")
def topics_group() -> None:
    """The topic catalogue on the broker."""


@topics_group.command("create")
def topics_create() -> None:
    """Create the catalogue's missing topics (same as at `run` start)."""
    settings = settings_or_exit()
    with stack(settings) as endpoints:
        echo_err(f"topics present on {endpoints.kafka}")


@topics_group.command("list")
def topics_list() -> None:
    """List the catalogue's topics with partitions and message counts."""
    settings = settings_or_exit()
    with stack(settings) as endpoints:
        statuses = asyncio.run(topic_status(endpoints.kafka))
    click.echo(f"{'topic':32} {'dir':8} {'parts':>5} {'messages':>10}  compacted")
    for status in statuses:
        click.echo(
            f"{status.name:32} {status.direction:8} {status.partitions:>5} "
            f"{status.messages:>10}  {'yes' if status.compacted else 'no'}"
        )


def _redacted(url: str) -> str:
    from civicgrid.db.pool import _safe

    return _safe(url)
