"""What the public face reads: cases as Open311 requests, case pages, keys and tokens.

Only public categories ever leave: every query takes the list of codes it may return."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from civicgrid.domain.open311 import CaseRow, RequestQuery

_KEY_BYTES = 32

# A case, its lead department and its first report (already masked at intake).
_REQUEST_SELECT = """
SELECT c.case_code, c.state, c.category, c.data->'departments'->>0 AS lead_department,
       c.opened_at, c.updated_at, c.deadline, c.data->>'code' AS code,
       (c.data->>'lat')::float8 AS lat, (c.data->>'lon')::float8 AS lon,
       r.payload->'event'->>'description' AS description,
       r.payload->'event'->'photos'->>0 AS media_url
FROM cases c
LEFT JOIN LATERAL (
    SELECT e.payload FROM events e
    WHERE e.case_id = c.case_id AND e.kind = 'report'
    ORDER BY e.occurred_at, e.event_id LIMIT 1
) r ON true
"""


def _case_row(record: asyncpg.Record) -> CaseRow:
    return CaseRow(**dict(record))


async def requests(
    pool: asyncpg.Pool, query: RequestQuery, public_codes: list[str]
) -> list[CaseRow]:
    if query.ids:
        sql = f"{_REQUEST_SELECT} WHERE c.case_code = ANY($1) AND c.category = ANY($2)"
        rows = await pool.fetch(sql + " ORDER BY c.opened_at DESC", list(query.ids), public_codes)
        return [_case_row(r) for r in rows]
    codes = [c for c in public_codes if not query.service_codes or c in query.service_codes]
    sql = f"""{_REQUEST_SELECT}
        WHERE c.category = ANY($1) AND c.opened_at >= $2 AND c.opened_at <= $3
          AND ($4::boolean IS NULL OR c.is_open = $4)
        ORDER BY c.opened_at DESC LIMIT $5"""
    is_open = None if query.status is None else query.status == "open"
    rows = await pool.fetch(sql, codes, query.start, query.end, is_open, query.limit)
    return [_case_row(r) for r in rows]


async def request(pool: asyncpg.Pool, case_code: str, public_codes: list[str]) -> CaseRow | None:
    sql = f"{_REQUEST_SELECT} WHERE c.case_code = $1 AND c.category = ANY($2)"
    row = await pool.fetchrow(sql, case_code, public_codes)
    return None if row is None else _case_row(row)


@dataclass(frozen=True, slots=True)
class TokenState:
    issued: bool
    case_code: str | None
    rejected: str | None  # the dead-letter kind, when the report was refused


async def token_state(pool: asyncpg.Pool, token: uuid.UUID, public_codes: list[str]) -> TokenState:
    row = await pool.fetchrow(
        """SELECT t.token IS NOT NULL AS issued,
                  (SELECT c.case_code FROM events e JOIN cases c ON c.case_id = e.case_id
                   WHERE e.event_id = $1 AND c.category = ANY($2)) AS case_code,
                  (SELECT d.kind FROM dead_letters d WHERE d.event_id = $1 LIMIT 1) AS rejected
           FROM (SELECT 1) one LEFT JOIN api_tokens t ON t.token = $1""",
        token,
        public_codes,
    )
    assert row is not None
    return TokenState(bool(row["issued"]), row["case_code"], row["rejected"])


async def record_token(pool: asyncpg.Pool, token: uuid.UUID, key_id: int) -> None:
    await pool.execute("INSERT INTO api_tokens (token, key_id) VALUES ($1, $2)", token, key_id)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(connection: asyncpg.Connection | asyncpg.Pool, name: str) -> str:
    """A new key for a partner app: returned once, stored only as its hash."""
    key = secrets.token_urlsafe(_KEY_BYTES)
    await connection.execute(
        "INSERT INTO api_keys (name, key_hash) VALUES ($1, $2)", name, _key_hash(key)
    )
    return key


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    name: str


async def api_key(pool: asyncpg.Pool, key: str) -> ApiKey | None:
    row = await pool.fetchrow(
        "SELECT key_id, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        _key_hash(key),
    )
    return None if row is None else ApiKey(row["key_id"], row["name"])


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a case's timeline: when, what state, and which department (if any)."""

    at: datetime
    state: str
    department: str | None  # a network dispatch's lead; a grid matter's is its category's


@dataclass(frozen=True, slots=True)
class CasePage:
    case_id: str
    case_code: str
    state: str
    category: str
    deadline: datetime | None
    opened_at: datetime
    closed_at: datetime | None
    evaluation: str | None
    steps: tuple[Step, ...]


async def case_page(pool: asyncpg.Pool, case_code: str) -> CasePage | None:
    case = await pool.fetchrow(
        """SELECT case_id, case_code, state, category, deadline, opened_at, updated_at,
                  data->>'evaluation' AS evaluation
           FROM cases WHERE case_code = $1""",
        case_code,
    )
    if case is None:
        return None
    # Each state change once, with the lead department of the dispatch it followed.
    history = await pool.fetch(
        """SELECT h.changed_at, h.state, d.payload->>'lead_department' AS network_lead
           FROM case_history h
           LEFT JOIN dispatches d ON d.case_id = h.case_id AND d.version = h.version
           WHERE h.case_id = $1 ORDER BY h.version""",
        case["case_id"],
    )
    steps: list[Step] = []
    for row in history:
        if steps and steps[-1].state == row["state"]:
            continue
        steps.append(Step(row["changed_at"], row["state"], row["network_lead"]))
    closed_at = next((s.at for s in reversed(steps) if s.state == "CLOSED"), None)
    return CasePage(
        case_id=case["case_id"],
        case_code=case["case_code"],
        state=case["state"],
        category=case["category"],
        deadline=case["deadline"],
        opened_at=case["opened_at"],
        closed_at=closed_at if case["state"] == "CLOSED" else None,
        evaluation=case["evaluation"],
        steps=tuple(steps),
    )
