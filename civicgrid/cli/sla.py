"""`civicgrid sla tick`: fire the SLA timers due at a chosen moment.

The leader worker ticks on the wall clock; this command is the same tick by hand, for an
operator catching up after an outage or a test driving deadlines with its own clock. Timers
live in Postgres (`cases.next_timer_at`) and each case records the timers it fired, so a tick
sent here as well as by the leader fires nothing twice.
"""

import asyncio
from datetime import UTC, datetime

import asyncpg
import click

from civicgrid.cli.cases import parse_moment
from civicgrid.cli.common import settings_or_exit, stack
from civicgrid.db.queries import grids_with_timers_due
from civicgrid.domain.timers import tick_messages
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import KafkaConnection


@click.group("sla")
def sla_group() -> None:
    """SLA timers (warning at 80 %, breach at 100 % of the limit)."""


@sla_group.command("tick")
@click.option(
    "--now",
    "now_text",
    help="The moment the timers are due at (ISO 8601, local time unless it has an offset).",
)
@click.option("--grid", "grid_ids", multiple=True, help="Only these grids (repeatable).")
def tick_command(now_text: str | None, grid_ids: tuple[str, ...]) -> None:
    """Publish a tick for every grid with a timer due at --now (default: now)."""
    settings = settings_or_exit()
    now = parse_moment(now_text, settings.zone) or datetime.now(UTC)
    with stack(settings) as endpoints:
        grids = asyncio.run(_tick(endpoints.database_url, endpoints.kafka, now, grid_ids))
    click.echo(f"ticked {len(grids)} grid(s) at {now.isoformat()}: {', '.join(grids) or '-'}")


async def _tick(
    database_url: str, kafka: KafkaConnection, now: datetime, grid_ids: tuple[str, ...]
) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        grids = await grids_with_timers_due(connection, now, grid_ids)
    finally:
        await connection.close()
    if not grids:
        return grids
    producer = kafka_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                message.topic,
                message.value,
                key=None if message.key is None else message.key.encode(),
            )
            for message in tick_messages(grids, now)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return grids
