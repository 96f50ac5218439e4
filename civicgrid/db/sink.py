"""Writes one batch plan in one transaction; every row is idempotent on its natural key.

Events go through COPY (into `events` when none is stored yet, else into a temporary table
and one INSERT ... SELECT ... ON CONFLICT DO NOTHING); the smaller tables use executemany.
Case rows keep only the newest version: a replayed batch never moves a case backwards.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from civicgrid.domain.case import Case
from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.gridwork import BatchPlan
from civicgrid.domain.timers import next_timer_at
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.errors import RetryError
from civicgrid.topics import catalogue as topics

_EVENT_COLUMNS = (
    "event_id",
    "kind",
    "topic",
    "partition",
    "offset",
    "grid_id",
    "code",
    "unknown_code",
    "actor_hash",
    "category",
    "severity",
    "case_id",
    "occurred_at",
    "published_at",
    "payload",
)
_COLUMN_LIST = ", ".join(f'"{c}"' for c in _EVENT_COLUMNS)
# where a batch holds an event already stored: only a replay that slipped past
# de-duplication (a rebalance overlapping two workers) gets here
_EVENTS_IN = """CREATE TEMP TABLE IF NOT EXISTS events_in (
    event_id uuid, kind text, topic text, partition integer, "offset" bigint, grid_id text,
    code text, unknown_code boolean, actor_hash text, category text, severity text,
    case_id text, occurred_at timestamptz, published_at timestamptz, payload jsonb
) ON COMMIT DELETE ROWS"""


async def seen_event_ids(connection: asyncpg.Connection, event_ids: list[str]) -> set[str]:
    rows = await connection.fetch(
        "SELECT event_id::text FROM events WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return {row[0] for row in rows}


async def load_into(
    connection: asyncpg.Connection,
    book: CaseBook,
    grid_ids: Iterable[str],
    case_ids: Iterable[str],
    updated_since: datetime | None = None,
) -> None:
    """Add to `book` the open cases of the grids, their cases updated since `updated_since`
    (a repeat point counts the reports of its closed cases too), any case an update names,
    and the grids' case counters. A case the book already holds at its stored version is not
    fetched or decoded again; one stored at a newer version replaces the book's."""
    grids = sorted(set(grid_ids))
    versions = await connection.fetch(
        # three arms, each with its index (cases_open_grid, cases_grid_updated, the key)
        "SELECT case_id, version FROM cases WHERE (grid_id = ANY($1) AND is_open) "
        "OR (grid_id = ANY($1) AND updated_at >= $3) OR case_id = ANY($2)",
        grids,
        sorted(set(case_ids)),
        updated_since,
    )
    missing = [
        case_id
        for case_id, version in versions
        if (held := book.get(case_id)) is None or held.version < version
    ]
    rows = (
        await connection.fetch("SELECT data FROM cases WHERE case_id = ANY($1)", missing)
        if missing
        else []
    )
    sequences = await connection.fetch(
        "SELECT grid_id, seq FROM grid_sequences WHERE grid_id = ANY($1)", grids
    )
    book.load((Case.from_dict(row[0]) for row in rows), {row[0]: row[1] for row in sequences})


async def write_plan(
    connection: asyncpg.Connection,
    plan: BatchPlan,
    sequences: dict[str, int],
    calendar: WorkingCalendar,
) -> dict[str, int]:
    """Write the plan inside the caller's transaction; return new rows per table."""
    written: dict[str, int] = {}
    if plan.events:
        written["events"] = await _insert_events(connection, plan.events)
    written["duplicate_deliveries"] = await _insert(
        connection,
        'INSERT INTO duplicate_deliveries (topic, partition, "offset", event_id) '
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        plan.duplicates,
    )
    written["dead_letters"] = await _insert(
        connection,
        'INSERT INTO dead_letters (topic, partition, "offset", kind, message, event_id) '
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        plan.dead_letters,
    )
    written["case_history"] = await _insert(
        connection,
        "INSERT INTO case_history (case_id, version, state, level, reason, event_id, "
        "changed_at, snapshot) VALUES ($1, $2, $3, $4, $5, $6::uuid, $7, $8) "
        "ON CONFLICT DO NOTHING",
        plan.history,
    )
    written["cases"] = await _insert(
        connection,
        """INSERT INTO cases (case_id, case_code, grid_id, version, state, level, category,
               severity, is_open, deadline, next_timer_at, opened_at, updated_at, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (case_id) DO UPDATE SET
               version = excluded.version, state = excluded.state, level = excluded.level,
               category = excluded.category, severity = excluded.severity,
               is_open = excluded.is_open, deadline = excluded.deadline,
               next_timer_at = excluded.next_timer_at,
               updated_at = excluded.updated_at, data = excluded.data
           WHERE cases.version < excluded.version""",
        [_case_row(case, calendar) for case in plan.cases.values()],
    )
    if plan.cases:
        await _check_cases_stored(connection, plan.cases)
    written["dispatches"] = await _insert(
        connection,
        "INSERT INTO dispatches (case_id, version, level, reason, created_at, payload, "
        "withdrawn) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        plan.dispatches,
    )
    # after the events: a case's first report may be in this very batch
    written["classification_corrections"] = await _insert(
        connection,
        "INSERT INTO classification_corrections (event_id, case_id, report_event_id, "
        "report_text, from_category, to_category, from_severity, to_severity, actor_hash, "
        "corrected_at) SELECT $1, $2, $3::uuid, (SELECT payload->'event'->>'description' "
        "FROM events WHERE event_id = $3::uuid), $4, $5, $6, $7, $8, $9 "
        "ON CONFLICT DO NOTHING",
        plan.corrections,
    )
    written["alerts"] = await _insert(
        connection,
        "INSERT INTO alerts (alert_id, kind, grid_ids, category, observed, expected, score, "
        "window_start, window_end, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT DO NOTHING",
        plan.alerts,
    )
    written["scan_audits"] = await _insert(
        connection,
        "INSERT INTO scan_audits (event_id, worker_hash, code, code_grid, occurred_at, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        plan.audits,
    )
    written["update_audits"] = await _insert(
        connection,
        "INSERT INTO update_audits (event_id, actor_id, actor_kind, case_id, grid_id, action, "
        "occurred_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        plan.update_audits,
    )
    # Counted in the events' transaction: a replayed batch finds its events seen and adds 0.
    written["series_counts"] = await _insert(
        connection,
        "INSERT INTO series_counts (grid_id, category, window_seconds, window_start, count) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (window_seconds, window_start, grid_id, "
        "category) DO UPDATE SET count = series_counts.count + excluded.count",
        [(*key, n) for key, n in sorted(plan.series_counts.items())],
    )
    # In the counts' transaction: a partition's watermark row never runs ahead of its counts.
    written["partition_watermarks"] = await _insert(
        connection,
        "INSERT INTO partition_watermarks (topic, partition, watermark) VALUES ($1, $2, $3) "
        "ON CONFLICT (topic, partition) DO UPDATE "
        "SET watermark = GREATEST(partition_watermarks.watermark, excluded.watermark)",
        [(topics.BY_GRID.name, p, mark) for p, mark in sorted(plan.watermarks.items())],
    )
    await _insert(
        connection,
        "INSERT INTO grid_sequences (grid_id, seq) VALUES ($1, $2) "
        "ON CONFLICT (grid_id) DO UPDATE SET seq = GREATEST(grid_sequences.seq, excluded.seq)",
        list(sequences.items()),
    )
    return written


async def _insert_events(connection: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> int:
    """COPY straight into `events`: the grid stage has already dropped the event ids stored
    before, and a plain COPY is ~1.45x the rows/s of COPY into a temporary table plus
    INSERT ... SELECT ... ON CONFLICT (docs/performance.md). Should a stored id slip through,
    the COPY fails inside its savepoint and the batch takes the idempotent path instead."""
    try:
        async with connection.transaction():
            await connection.copy_records_to_table("events", records=rows, columns=_EVENT_COLUMNS)
        return len(rows)
    except asyncpg.UniqueViolationError:
        await connection.execute(_EVENTS_IN)
        await connection.copy_records_to_table("events_in", records=rows, columns=_EVENT_COLUMNS)
        status = await connection.execute(
            f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM events_in "
            "ON CONFLICT DO NOTHING"
        )
        return _inserted(status)


async def _check_cases_stored(connection: asyncpg.Connection, cases: dict[str, Case]) -> None:
    """Raise a RetryError unless every planned case is now stored as planned.

    `cases` moves only forward, so a case another writer stored at this version or a newer
    one keeps its row, and the batch's reports in it would commit to `events` with no case
    holding them: two workers owning a grid for a moment in a rebalance, one of them with a
    stale book, left 30 of 3,000 reports so (`make chaos`, failover). Rolled back, the batch
    is retried on a book reloaded from PostgreSQL. The version, the number of reports and
    the first and last of them tell the row apart cheaply (a hot case holds thousands)."""
    rows = await connection.fetch(
        "SELECT case_id, version, jsonb_array_length(data -> 'event_ids'), "
        "data -> 'event_ids' ->> 0, data -> 'event_ids' ->> -1 "
        "FROM cases WHERE case_id = ANY($1)",
        list(cases),
    )
    for case_id, version, reports, first, last in rows:
        case = cases[case_id]
        joined = case.reports  # never empty: a case has the report that opened it
        planned = (case.version, len(joined), joined[0].event_id, joined[-1].event_id)
        if (version, reports, first, last) != planned:
            raise RetryError(f"case {case_id} was stored by another writer (version {version})")


def _case_row(case: Case, calendar: WorkingCalendar) -> tuple[Any, ...]:
    return (
        case.case_id,
        case.case_code,
        case.grid_id,
        case.version,
        case.state.value,
        case.level.value,
        case.category,
        case.severity.value,
        case.state.is_open,
        case.deadline,
        next_timer_at(case, calendar),
        case.opened_at,
        case.updated_at,
        case.to_dict(),
    )


async def _insert(connection: asyncpg.Connection, sql: str, rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    await connection.executemany(sql, rows)
    # executemany reports no counts; the caller's metrics count rows offered, which on a
    # replay over-counts only rows that were already there
    return len(rows)


def _inserted(status: str) -> int:
    """`INSERT 0 N` -> N."""
    return int(status.rsplit(" ", 1)[-1])
