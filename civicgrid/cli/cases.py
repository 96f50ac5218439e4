"""`civicgrid case show CODE` and `civicgrid cases [--open] [--overdue]`: cases as Postgres
holds them, for operators."""

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import asyncpg
import click
import orjson

from civicgrid.cli.common import settings_or_exit, stack
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


def parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a UTC offset, e.g. 2025-09-22T09:00+08:00")
    return moment


async def _with_connection(
    url: str, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]
) -> T:
    connection = await asyncpg.connect(url)
    try:
        return await work(connection)
    finally:
        await connection.close()


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns as wide as their widest cell."""
    cells = [list(headers), *([_text(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@click.group("case")
def case_group() -> None:
    """One case (一件一码)."""


@case_group.command("show")
@click.argument("code")
@_FORMAT
def show_command(code: str, output: Format) -> None:
    """Print the case with case code or case id CODE and its history."""
    settings = settings_or_exit()

    async def read(connection: asyncpg.Connection) -> tuple[CaseRow, list[HistoryRow]] | None:
        case = await find_case(connection, code)
        if case is None:
            return None
        return case, await case_history(connection, case.case_id)

    with stack(settings) as endpoints:
        found = asyncio.run(_with_connection(endpoints.database_url, read))
    if found is None:
        raise click.ClickException(f"no case with case code or case id {code!r}")
    case, history = found
    if output == "json":
        click.echo(_json({"case": asdict(case), "history": [asdict(h) for h in history]}))
        return
    data = case.data
    facts = [
        ("case", f"{case.case_code} ({case.case_id})"),
        ("state", f"{case.state} at the {case.level} rung, version {case.version}"),
        ("category", f"{case.category} {case.severity}"),
        ("departments", ", ".join(data.get("departments", ())) or "-"),
        ("opened", _text(case.opened_at)),
        ("deadline", f"{_text(case.deadline)} (limit {_limit(data)}, SLA {data['sla_stage']})"),
        ("next timer", _text(case.next_timer_at)),
        ("reports", f"{len(data['event_ids'])} ({data['duplicate_count']} duplicates)"),
        ("returns/reworks", f"{data['return_count']}/{data['rework_count']}"),
        ("escalations", "; ".join(data["escalation_reasons"]) or "-"),
        ("evaluation", _text(data.get("evaluation"))),
    ]
    click.echo("\n".join(f"{name:<16} {value}" for name, value in facts))
    click.echo()
    click.echo(
        table(
            ("version", "at", "state", "level", "reason", "event"),
            [(h.version, h.changed_at, h.state, h.level, h.reason, h.event_id) for h in history],
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
@click.option("--now", "now_text", help="The moment for --overdue (ISO 8601); default now.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@_FORMAT
def cases_command(
    open_only: bool, overdue: bool, now_text: str | None, limit: int, output: Format
) -> None:
    """List cases by deadline, earliest first."""
    settings = settings_or_exit()
    now = parse_moment(now_text) or datetime.now(UTC)
    overdue_at = now if overdue else None

    async def read(connection: asyncpg.Connection) -> list[CaseRow]:
        return await list_cases(connection, open_only=open_only, overdue_at=overdue_at, limit=limit)

    with stack(settings) as endpoints:
        rows = asyncio.run(_with_connection(endpoints.database_url, read))
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
                    _late_by(r.deadline, now),
                )
                for r in rows
            ],
        )
    )
    click.echo(f"{len(rows)} case(s)")


def _late_by(deadline: datetime | None, now: datetime) -> str:
    if deadline is None or deadline >= now:
        return "-"
    minutes = int((now - deadline).total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
