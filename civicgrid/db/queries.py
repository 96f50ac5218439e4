"""Reads for operators: one case with its history, the late cases, the grids with timers due.

Postgres is the system of record, so these read the `cases` and `case_history` tables the
grid stage writes, never the topics.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from civicgrid.domain.lifecycle import SLA_RUNNING

# Every inbound offset ends in exactly one of these three tables (a case update the state
# machine refused is in events and dead_letters): the offsets that reached PostgreSQL.
# civic.presence.v1's observations are stored in household_sightings (issue 21), not events
ACCOUNTED_OFFSETS = """
    SELECT topic, partition, "offset" FROM events
    UNION SELECT topic, partition, "offset" FROM household_sightings
    UNION SELECT topic, partition, "offset" FROM duplicate_deliveries
    UNION SELECT topic, partition, "offset" FROM dead_letters"""
COUNT_ACCOUNTED = f"SELECT count(*) FROM ({ACCOUNTED_OFFSETS}) accounted"

# A case is late only while its SLA clock runs: a handled case waiting for its check, or a
# closed one, is not the handlers' delay even when its deadline has passed.
_RUNNING_STATES = sorted(state.value for state in SLA_RUNNING)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    version: int
    state: str
    level: str
    reason: str
    event_id: str | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_id: str
    case_code: str
    grid_id: str
    version: int
    state: str
    level: str
    category: str
    severity: str
    is_open: bool
    deadline: datetime | None
    next_timer_at: datetime | None
    opened_at: datetime
    updated_at: datetime
    data: dict[str, Any]


_CASE_COLUMNS = (
    "case_id, case_code, grid_id, version, state, level, category, severity, is_open, "
    "deadline, next_timer_at, opened_at, updated_at, data"
)


def _case(row: asyncpg.Record) -> CaseRow:
    data = row["data"]
    # asyncpg returns jsonb as text unless a codec is registered on the connection
    parsed = orjson.loads(data) if isinstance(data, str | bytes) else dict(data)
    return CaseRow(**{**dict(row), "data": parsed})


async def find_case(connection: asyncpg.Connection, code: str) -> CaseRow | None:
    """The case whose case code or case id is `code`."""
    row = await connection.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_code = $1 OR case_id = $1", code
    )
    return None if row is None else _case(row)


async def case_history(connection: asyncpg.Connection, case_id: str) -> list[HistoryRow]:
    rows = await connection.fetch(
        "SELECT version, state, level, reason, event_id::text AS event_id, changed_at "
        "FROM case_history WHERE case_id = $1 ORDER BY version",
        case_id,
    )
    return [HistoryRow(**dict(row)) for row in rows]


async def list_cases(
    connection: asyncpg.Connection,
    *,
    open_only: bool,
    overdue_at: datetime | None,
    limit: int,
) -> list[CaseRow]:
    """Cases by deadline, earliest first; `overdue_at` keeps those late at that moment."""
    rows = await connection.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM cases
            WHERE (NOT $1 OR is_open)
              AND ($2::timestamptz IS NULL OR (deadline < $2 AND state = ANY($3)))
            ORDER BY deadline, case_id
            LIMIT $4""",
        open_only,
        overdue_at,
        _RUNNING_STATES,
        limit,
    )
    return [_case(row) for row in rows]


async def grids_with_timers_due(
    connection: asyncpg.Connection, now: datetime, grid_ids: Sequence[str] = ()
) -> list[str]:
    """Grids holding an open case whose next SLA timer is due at `now`; `grid_ids`, when
    given, restricts the answer to those grids."""
    rows = await connection.fetch(
        """SELECT DISTINCT grid_id FROM cases
           WHERE is_open AND next_timer_at <= $1
             AND (cardinality($2::text[]) = 0 OR grid_id = ANY($2))
           ORDER BY grid_id""",
        now,
        list(grid_ids),
    )
    return [row[0] for row in rows]
