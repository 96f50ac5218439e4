"""`civicgrid case show CODE` and `civicgrid cases [--open] [--overdue]`: cases as Postgres
holds them, for operators."""

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import click
import orjson

from civicgrid.cli.common import database, reader_settings, verbose_option
from civicgrid.cli.render import late_by, sla_status, table, text, zone_header
from civicgrid.db.queries import CaseRow, HistoryRow, case_history, find_case, list_cases

Format = Literal["table", "json"]
T = TypeVar("T")
_FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)


def parse_moment(value: str | None, zone: ZoneInfo) -> datetime | None:
    """ISO 8601; without an offset it is the city's local time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


async def _with_connection(
    url: str, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]
) -> T:
    connection = await asyncpg.connect(url)
    try:
        return await work(connection)
    finally:
        await connection.close()


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@click.group("case")
def case_group() -> None:
    """One case (一件一码)."""


@case_group.command("show")
@click.argument("code")
@_FORMAT
@verbose_option
def show_command(code: str, output: Format, verbose: bool) -> None:
    """Print the case with case code or case id CODE and its history."""
    settings = reader_settings(verbose)
    zone, now = settings.zone, datetime.now(UTC)

    async def read(connection: asyncpg.Connection) -> tuple[CaseRow, list[HistoryRow]] | None:
        case = await find_case(connection, code)
        if case is None:
            return None
        return case, await case_history(connection, case.case_id)

    with database(settings) as url:
        found = asyncio.run(_with_connection(url, read))
    if found is None:
        raise click.ClickException(f"no case with case code or case id {code!r}")
    case, history = found
    if output == "json":
        click.echo(_json({"case": asdict(case), "history": [asdict(h) for h in history]}))
        return
    data = case.data
    late = late_by(case.deadline, now)
    # a running worker's leader fires a due timer within one SLA check
    grace = timedelta(seconds=2 * settings.sla_check_seconds)
    facts = [
        ("case", f"{case.case_code} ({case.case_id})"),
        ("state", f"{case.state} at the {case.level} rung, version {case.version}"),
        ("category", f"{case.category} {case.severity}"),
        ("departments", ", ".join(data.get("departments", ())) or "-"),
        ("opened", text(case.opened_at, zone)),
        (
            "deadline",
            f"{text(case.deadline, zone)} (limit {_limit(data)})"
            + ("" if late == "-" else f", passed {late} ago"),
        ),
        (
            "SLA timers",
            sla_status(data["sla_stage"], case.deadline, case.next_timer_at, now, zone, grace),
        ),
        ("reports", f"{len(data['event_ids'])} ({data['duplicate_count']} duplicates)"),
        ("returns/reworks", f"{data['return_count']}/{data['rework_count']}"),
        ("escalations", "; ".join(data["escalation_reasons"]) or "-"),
        ("evaluation", text(data.get("evaluation"), zone)),
    ]
    click.echo(zone_header(zone, now))
    click.echo("\n".join(f"{name:<16} {value}" for name, value in facts))
    click.echo()
    click.echo(
        table(
            ("version", "at", "state", "level", "reason", "event"),
            [(h.version, h.changed_at, h.state, h.level, h.reason, h.event_id) for h in history],
            zone,
            now,
        )
    )


def _limit(data: dict[str, Any]) -> str:
    limit = data["limit"]
    return f"{limit['amount']:g} {limit['unit'].replace('_', ' ')}"


@click.command("cases")
@click.option("--open", "open_only", is_flag=True, help="Only open cases.")
@click.option(
    "--overdue",
    is_flag=True,
    help="Only cases past their deadline while their SLA clock runs.",
)
@click.option(
    "--now",
    "now_text",
    help="The moment for --overdue (ISO 8601, local time unless it has an offset); default now.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@_FORMAT
@verbose_option
def cases_command(
    open_only: bool, overdue: bool, now_text: str | None, limit: int, output: Format, verbose: bool
) -> None:
    """List cases by deadline, earliest first."""
    settings = reader_settings(verbose)
    now = parse_moment(now_text, settings.zone) or datetime.now(UTC)
    overdue_at = now if overdue else None

    async def read(connection: asyncpg.Connection) -> list[CaseRow]:
        return await list_cases(connection, open_only=open_only, overdue_at=overdue_at, limit=limit)

    with database(settings) as url:
        rows = asyncio.run(_with_connection(url, read))
    if output == "json":
        click.echo(_json([{k: v for k, v in asdict(r).items() if k != "data"} for r in rows]))
        return
    click.echo(
        table(
            ("case code", "state", "level", "category", "sev", "deadline", "late by"),
            [
                (
                    r.case_code,
                    r.state,
                    r.level,
                    r.category,
                    r.severity,
                    r.deadline,
                    late_by(r.deadline, now),
                )
                for r in rows
            ],
            settings.zone,
            now,
        )
    )
    click.echo(f"{len(rows)} case(s)")
