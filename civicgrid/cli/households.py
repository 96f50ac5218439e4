"""`civicgrid households report --station X [--csv]`: a police station's household
cross-checks (issue 21): households and people checked in its grids, findings by kind,
standing and withdrawn, and their cases open, closed and cancelled. Read-only, from
PostgreSQL (docs/households.md)."""

import asyncio
import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import click

from civicgrid.cli.common import database, reader_settings, verbose_option
from civicgrid.cli.render import table
from civicgrid.db.householdreport import NotAStationError, StationReport, station_report

KIND_NAMES = {
    "living_apart": "人户分离",
    "unregistered": "应落未落",
    "not_deregistered": "应销未销",
    "duplicate_registration": "一人多户",
    "not_a_dwelling": "户籍地非住宅",
}
_COLUMNS = (
    "kind",
    "中文",
    "findings_raised",
    "findings_withdrawn",
    "cases_open",
    "cases_closed",
    "cases_cancelled",
)


@click.group("households")
def households_group() -> None:
    """Household-registration cross-checks (户口整顿 / 人户一致性比对)."""


async def _read(url: str, station: str) -> StationReport:
    connection = await asyncpg.connect(url)
    try:
        return await station_report(connection, station)
    finally:
        await connection.close()


def rows_of(report: StationReport) -> list[list[object]]:
    return [
        [
            k.kind,
            KIND_NAMES.get(k.kind, ""),
            k.raised,
            k.withdrawn,
            k.cases_open,
            k.cases_closed,
            k.cases_cancelled,
        ]
        for k in report.kinds
    ]


def as_csv(report: StationReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("station", "grids", "households_checked", "people_checked", *_COLUMNS))
    for row in rows_of(report):
        writer.writerow((report.station, len(report.grids), report.households, report.people, *row))
    return out.getvalue()


def as_table(report: StationReport, zone: ZoneInfo) -> str:
    rows = rows_of(report)
    totals = ["all", "", *(sum(int(str(r[i])) for r in rows) for i in range(2, len(_COLUMNS)))]
    head = [
        f"station {report.station}" + (f" ({report.name})" if report.name else ""),
        f"grids {len(report.grids)}, households checked {report.households:,}, "
        f"people checked {report.people:,}",
        "",
    ]
    return "\n".join(head) + table(_COLUMNS, [*rows, totals], zone, datetime.now(UTC))


@households_group.command("report")
@click.option("--station", required=True, help="the police station's actor id (civic.actors.v1)")
@click.option("--csv", "as_csv_output", is_flag=True, help="CSV instead of a table")
@verbose_option
def report_command(station: str, as_csv_output: bool, verbose: bool) -> None:
    """A police station's reconciliation: households and people checked, findings by kind."""
    settings = reader_settings(verbose)
    with database(settings) as url:
        try:
            report = asyncio.run(_read(url, station))
        except NotAStationError as error:
            raise click.ClickException(str(error)) from None
    click.echo(as_csv(report) if as_csv_output else as_table(report, settings.zone), nl=False)
    if not as_csv_output:
        click.echo()
