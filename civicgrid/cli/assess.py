"""`civicgrid assess --day D [--street X] [--format csv]`: the day's ranked assessment,
recomputed from Postgres (the grids, workers and codes from the state mirror);
`civicgrid assess trace SUBJECT --day D --figure NAME`: the events and cases behind one
stored figure."""

import asyncio
import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import click
import orjson

from civicgrid.cli.common import database, reader_settings, verbose_option
from civicgrid.cli.render import local, table
from civicgrid.db.assessment import (
    GridPopulation,
    Period,
    Snapshot,
    assess_day,
    mirrored_population,
    store,
    trace_rows,
)
from civicgrid.db.pool import create_pool
from civicgrid.domain.indicators import DEPARTMENT_WEIGHTS, WORKER_WEIGHTS
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.runtime import pseudonym_key, working_calendar
from civicgrid.schemas.enums import SubjectKind

_DAY = click.option(
    "--day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="the day, in the city's zone"
)


def _weights(path: Path | None) -> tuple[Mapping[str, float], Mapping[str, float]]:
    """A JSON file {"department": {figure: weight}, "grid_worker": {...}}; absent: defaults."""
    if path is None:
        return DEPARTMENT_WEIGHTS, WORKER_WEIGHTS
    data = orjson.loads(path.read_bytes())
    return (
        data.get(SubjectKind.DEPARTMENT.value, DEPARTMENT_WEIGHTS),
        data.get(SubjectKind.GRID_WORKER.value, WORKER_WEIGHTS),
    )


async def _assess(
    url: str,
    hasher: KeyedHasher,
    period: Period,
    street: str | None,
    weights: tuple[Mapping[str, float], Mapping[str, float]],
    keep: bool,
) -> tuple[list[Snapshot], dict[str, str], dict[str, GridPopulation]]:
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as connection:
            grids = await mirrored_population(connection, hasher, street)
            if not grids:
                raise click.ClickException(
                    f"no grid in street {street!r}"
                    if street is not None
                    else "no grids in the state mirror: a worker writes them as it follows "
                    "civic.grids.v1 (`civicgrid run` with the grids published, or `make demo`)"
                )
            names = {f"{g}/{h}": clear for g, p in grids.items() for clear, h in p.workers}
            snapshots = await assess_day(connection, period, grids, *weights)
            if keep:
                async with connection.transaction():
                    await store(connection, period, snapshots)
    finally:
        await pool.close()
    return snapshots, names, grids


def _ranked(snapshots: Sequence[Snapshot], kind: SubjectKind) -> list[Snapshot]:
    chosen = [s for s in snapshots if s.subject_kind is kind]
    return sorted(chosen, key=lambda s: (s.score is None, -(s.score or 0.0), s.subject_id))


def _cell(value: float | None, figure: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if figure == "reports_uploaded" else f"{100 * value:.1f}%"


@click.group("assess", invoke_without_command=True)
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="the day, in the city's zone")
@click.option("--street", help="only the grids of this street (and the cases in them)")
@click.option(
    "--format", "output", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON {"department": {figure: weight}, "grid_worker": {...}}',
)
@click.option("--store", "keep", is_flag=True, help="also upsert the snapshots (a backfill)")
@verbose_option
@click.pass_context
def assess_group(
    context: click.Context,
    day: datetime | None,
    street: str | None,
    output: str,
    weights: Path | None,
    keep: bool,
    verbose: bool,
) -> None:
    """Departments and grid workers of a day, ranked by composite score (量化考核)."""
    if context.invoked_subcommand is not None:
        return
    if day is None:
        raise click.UsageError("--day is required")
    if keep and (street is not None or weights is not None):
        raise click.UsageError("--store keeps the whole city's figures with the default weights")
    settings = reader_settings(verbose)
    hasher = KeyedHasher(pseudonym_key(settings))
    now = datetime.now(UTC)
    try:
        period = Period.of(day.date(), working_calendar(settings), now)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--day") from None
    with database(settings) as url:
        snapshots, names, grids = asyncio.run(
            _assess(
                url,
                hasher,
                period,
                street,
                _weights(weights),
                keep,
            )
        )
    if output == "csv":
        click.echo(_csv(snapshots, names, grids), nl=False)
        return
    zone = period.calendar.zone
    click.echo(f"assessment of {period.day} as of {local(period.as_of, zone)} ({zone.key})")
    for kind in (SubjectKind.DEPARTMENT, SubjectKind.GRID_WORKER):
        ranked = _ranked(snapshots, kind)
        figures = list(ranked[0].indicators) if ranked else []
        rows = [
            [
                rank,
                names.get(s.subject_id, s.subject_id),
                s.grid_id or "",
                "n/a" if s.score is None else f"{s.score:.2f}",
                s.grade or "-",
                *(_cell(s.indicators[f], f) for f in figures),
            ]
            for rank, s in enumerate(ranked, 1)
        ]
        grades = Counter(s.grade or "-" for s in ranked)
        summary = ", ".join(f"{g} {grades[g]}" for g in sorted(grades))
        click.echo(f"\n{kind.value}s ({summary})")
        click.echo(table(["#", "subject", "grid", "score", "grade", *figures], rows, zone, now))


def _csv(
    snapshots: Sequence[Snapshot], names: Mapping[str, str], grids: Mapping[str, GridPopulation]
) -> str:
    buffer = io.StringIO()
    figures = [*DEPARTMENT_WEIGHTS, "reports_uploaded", *WORKER_WEIGHTS]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["kind", "rank", "subject", "subject_id", "grid", "street", "score", "grade", *figures]
    )
    for kind in (SubjectKind.DEPARTMENT, SubjectKind.GRID_WORKER):
        for rank, s in enumerate(_ranked(snapshots, kind), 1):
            street = grids[s.grid_id].street if s.grid_id else ""
            values = [s.indicators.get(f) for f in figures]
            writer.writerow(
                [kind.value, rank, names.get(s.subject_id, s.subject_id), s.subject_id]
                + [s.grid_id or "", street, "" if s.score is None else s.score, s.grade or ""]
                + ["" if v is None else v for v in values]
            )
    return buffer.getvalue()


@assess_group.command("trace")
@click.argument("subject")
@_DAY
@click.option("--figure", required=True, help="e.g. on_time_closure_rate, code_coverage")
@verbose_option
def trace_command(subject: str, day: datetime, figure: str, verbose: bool) -> None:
    """The events or cases on each side of one stored figure of SUBJECT (a department, a
    worker id in clear or hashed, or the stored subject id)."""
    settings = reader_settings(verbose)
    zone, now = settings.zone, datetime.now(UTC)
    hashed = KeyedHasher(pseudonym_key(settings)).hash(subject)
    with database(settings) as url:
        found = asyncio.run(_trace(url, day.date(), subject, hashed, figure))
    row, details = found
    click.echo(
        f"{row['subject_id']} {figure} on {day.date()} as of {local(row['as_of'], zone)} "
        f"({zone.key})"
    )
    trace = row["trace"][figure]
    for side in ("numerator", "denominator"):
        ids = trace[side]
        click.echo(f"\n{side} ({len(ids)})")
        click.echo(
            table(
                ["id", "kind", "at", "grid", "case", "code", "what"],
                [[i, *(list(details[i].values())[1:] if i in details else ["?"] * 6)] for i in ids],
                zone,
                now,
            )
        )
    if "population" in trace:
        click.echo(f"\ndenominator: the grid's {trace['population']} (from the registry)")


async def _trace(
    url: str, day: date, subject: str, hashed: str, figure: str
) -> tuple[asyncpg.Record, dict[str, Any]]:
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT * FROM assessments WHERE day = $1 AND (subject_id = $2 "
                "OR split_part(subject_id, '/', 2) = ANY($3::text[]))",
                day,
                subject,
                [subject, hashed],
            )
            if len(rows) != 1:
                raise click.ClickException(
                    f"{len(rows)} stored snapshots of {subject!r} on {day}; "
                    "give the stored subject id, or store the day: civicgrid assess --store"
                )
            row = rows[0]
            if figure not in row["trace"]:
                raise click.ClickException(f"no figure {figure!r}; try {', '.join(row['trace'])}")
            trace = row["trace"][figure]
            details = await trace_rows(connection, [*trace["numerator"], *trace["denominator"]])
    finally:
        await pool.close()
    return row, {k: dict(v) for k, v in details.items()}
