"""What the operations console reads and keeps: accounts, the scoped map and case desk, the
audit. Every query takes the operator's scope (civicgrid.console.scope): scope is enforced
here, on the server, never only in the page."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from civicgrid.console.scope import Operator, Role, case_department, grid_filter


async def add_operator(
    connection: asyncpg.Connection, operator: Operator, password_hash: str
) -> None:
    await connection.execute(
        """INSERT INTO console_operators (operator_id, role, scope, password_hash)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (operator_id) DO UPDATE
           SET role = EXCLUDED.role, scope = EXCLUDED.scope,
               password_hash = EXCLUDED.password_hash""",
        operator.operator_id,
        operator.role.value,
        operator.scope,
        password_hash,
    )


async def account(pool: asyncpg.Pool, operator_id: str) -> tuple[Operator, str] | None:
    row = await pool.fetchrow(
        "SELECT role, scope, password_hash FROM console_operators WHERE operator_id = $1",
        operator_id,
    )
    if row is None:
        return None
    return Operator(operator_id, Role(row["role"]), row["scope"]), row["password_hash"]


async def audit(
    pool: asyncpg.Pool, operator: Operator, what: str, case_id: str | None, detail: str = ""
) -> None:
    await pool.execute(
        "INSERT INTO console_audit (operator_id, what, case_id, detail) VALUES ($1, $2, $3, $4)",
        operator.operator_id,
        what,
        case_id,
        detail,
    )


def _grids(operator: Operator, params: list[Any]) -> str:
    """The operator's grid condition on alias g, its value appended to `params`."""
    grids = grid_filter(operator)
    if grids.value is None:
        return grids.sql
    params.append(grids.value)
    return grids.sql.replace("$1", f"${len(params)}")


def _department(operator: Operator, params: list[Any], condition: str) -> str:
    """`condition` (with `{}` for the department's placeholder) for a department operator;
    true for anyone else."""
    department = case_department(operator)
    if department is None:
        return "true"
    params.append(department)
    return condition.format(f"${len(params)}")


_DISPATCHED_TO = "c.data->'departments' ? {}"


def _scoped(operator: Operator, params: list[Any]) -> str:
    """The operator's cases: in their grids, and dispatched to them if a department."""
    return f"{_grids(operator, params)} AND {_department(operator, params, _DISPATCHED_TO)}"


async def map_grids(pool: asyncpg.Pool, operator: Operator, now: datetime) -> list[dict[str, Any]]:
    """The operator's grids with their polygons and open, overdue and alert counts."""
    params: list[Any] = [now]
    where = _grids(operator, params)
    case_cond = f"c.is_open AND {_department(operator, params, _DISPATCHED_TO)}"
    rows = await pool.fetch(
        f"""SELECT g.grid_id, g.name, g.community, g.street, g.district, g.polygon,
                   count(c.case_id) AS open,
                   count(c.case_id) FILTER (WHERE c.deadline < $1) AS overdue,
                   (SELECT count(*) FROM alerts a WHERE g.grid_id = ANY(a.grid_ids)
                      AND a.created_at > $1 - interval '1 day') AS alerts
            FROM mirror_grids g
            LEFT JOIN cases c ON c.grid_id = g.grid_id AND {case_cond}
            WHERE {where}
            GROUP BY g.grid_id ORDER BY g.grid_id""",
        *params,
    )
    return [dict(r) for r in rows]


async def grid_detail(
    pool: asyncpg.Pool, operator: Operator, grid_id: str, day: date
) -> dict[str, Any] | None:
    """A grid of the operator's: its workers, the last day's alerts and the day's scores of
    its workers (its cases come from `cases`); None outside the operator's scope."""
    params: list[Any] = [grid_id]
    scope = _grids(operator, params)
    grid = await pool.fetchrow(
        f"SELECT g.worker_ids FROM mirror_grids g WHERE g.grid_id = $1 AND {scope}", *params
    )
    if grid is None:
        return None
    alerts = await pool.fetch(
        """SELECT kind, category, observed, expected, created_at FROM alerts
           WHERE $1 = ANY(grid_ids) AND created_at > now() - interval '1 day'
           ORDER BY created_at DESC LIMIT 20""",
        grid_id,
    )
    scores = await pool.fetch(
        """SELECT subject_id, score, grade FROM assessments
           WHERE day = $1 AND grid_id = $2 AND subject_kind = 'grid_worker'
           ORDER BY score DESC NULLS LAST""",
        day,
        grid_id,
    )
    return {
        "workers": list(grid["worker_ids"]),
        "alerts": [
            {
                "kind": a["kind"],
                "category": a["category"],
                "observed": a["observed"],
                "expected": a["expected"],
            }
            for a in alerts
        ],
        "assessment": [{"score": r["score"], "grade": r["grade"]} for r in scores],
    }


@dataclass(frozen=True)
class DeskFilter:
    state: str | None = None
    category: str | None = None
    severity: str | None = None
    level: str | None = None
    grid_id: str | None = None
    overdue: bool = False
    verifying: bool = False


async def cases(
    pool: asyncpg.Pool, operator: Operator, chosen: DeskFilter, now: datetime, limit: int = 200
) -> list[asyncpg.Record]:
    values: list[Any] = [now]
    conditions = [_scoped(operator, values)]
    for column, value in (
        ("c.state", chosen.state),
        ("c.category", chosen.category),
        ("c.severity", chosen.severity),
        ("c.level", chosen.level),
        ("c.grid_id", chosen.grid_id),
    ):
        if value:
            values.append(value)
            conditions.append(f"{column} = ${len(values)}")
    if chosen.overdue:
        conditions.append("c.is_open AND c.deadline < $1")
    if chosen.verifying:
        conditions.append("c.state = 'VERIFYING'")
    values.append(limit)
    return list(
        await pool.fetch(
            f"""SELECT c.case_id, c.case_code, c.grid_id, c.state, c.level, c.category,
                       c.severity, c.deadline, c.updated_at, c.version,
                       c.is_open AND c.deadline < $1 AS overdue
                FROM cases c JOIN mirror_grids g ON g.grid_id = c.grid_id
                WHERE {" AND ".join(conditions)}
                ORDER BY c.is_open DESC, c.updated_at DESC LIMIT ${len(values)}""",
            *values,
        )
    )


async def case(pool: asyncpg.Pool, operator: Operator, case_code: str) -> asyncpg.Record | None:
    """The case, if it is within the operator's scope (else None: the same as unknown)."""
    params: list[Any] = [case_code]
    scope = _scoped(operator, params)
    return await pool.fetchrow(
        f"""SELECT c.* FROM cases c JOIN mirror_grids g ON g.grid_id = c.grid_id
            WHERE c.case_code = $1 AND {scope}""",
        *params,
    )


async def case_reports(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            """SELECT occurred_at, payload->'event'->>'description' AS description,
                      payload->'event'->>'channel' AS channel,
                      payload->'event'->'photos' AS photos
               FROM events WHERE case_id = $1 AND kind = 'report'
               ORDER BY occurred_at, event_id LIMIT 50""",
            case_id,
        )
    )


async def case_history(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            """SELECT version, state, level, reason, changed_at FROM case_history
               WHERE case_id = $1 ORDER BY version""",
            case_id,
        )
    )


async def last_change(pool: asyncpg.Pool, operator: Operator) -> str:
    """A fingerprint of the operator's cases and alerts: it changes when either does."""
    params: list[Any] = []
    scope = _scoped(operator, params)
    row = await pool.fetchrow(
        f"""SELECT (SELECT coalesce(max(c.updated_at)::text, '') || count(*)::text
                    FROM cases c JOIN mirror_grids g ON g.grid_id = c.grid_id WHERE {scope})
                   || '/' || (SELECT coalesce(max(created_at)::text, '') FROM alerts) AS mark""",
        *params,
    )
    return str(row["mark"]) if row else ""


async def assessment(pool: asyncpg.Pool, operator: Operator, day: date) -> list[asyncpg.Record]:
    """The day's stored scores: grid workers of the operator's grids, and the departments
    (office holders, ranked in public) — one department sees only itself."""
    params: list[Any] = [day]
    where = _grids(operator, params)
    dept = _department(operator, params, "a.subject_id = {}")
    return list(
        await pool.fetch(
            f"""SELECT a.subject_kind, a.subject_id, a.grid_id, a.score, a.grade, a.indicators
                FROM assessments a LEFT JOIN mirror_grids g ON g.grid_id = a.grid_id
                WHERE a.day = $1 AND (
                    (a.subject_kind = 'grid_worker' AND {where})
                    OR (a.subject_kind = 'department' AND {dept}))
                ORDER BY a.subject_kind, a.score DESC NULLS LAST, a.subject_id""",
            *params,
        )
    )


# Household cross-check findings (issue 21): their evidence is for the police alone, and
# only for the grids of the station the operator is (its roster entry's territory).
HOUSEHOLD_DEPARTMENT = "police"
HOUSEHOLD_CATEGORY = "L0103"  # as civicgrid/domain/gridwork.py opens them


def sees_household_evidence(operator: Operator) -> bool:
    return operator.role is Role.DEPARTMENT and operator.scope == HOUSEHOLD_DEPARTMENT


async def household_evidence(
    pool: asyncpg.Pool, operator: Operator, case_id: str
) -> list[asyncpg.Record] | None:
    """The findings behind a case with their masked evidence, if the operator is a police
    station whose territory (civic.actors.v1, as mirrored) holds the case's grid; None for
    anyone else. A household's finding raised by several members is listed once."""
    if not sees_household_evidence(operator):
        return None
    return list(
        await pool.fetch(
            """SELECT DISTINCT ON (f.finding_id) f.kind, f.subject, f.rule, f.place_code,
                      f.decisive_on, f.thresholds, f.evidence, f.households, h.raised
               FROM household_cases h
               JOIN household_findings f USING (finding_id)
               JOIN mirror_grids g ON g.grid_id = h.grid_id
               JOIN mirror_actors a ON a.actor_id = $2
               WHERE h.case_id = $1
                 AND (cardinality(a.grids) = 0 OR g.grid_id = ANY(a.grids))
                 AND (a.district IS NULL OR g.district = a.district)
                 AND (a.street IS NULL OR g.street = a.street)
                 AND (a.community IS NULL OR g.community = a.community)
               ORDER BY f.finding_id, f.person_hash""",
            case_id,
            operator.operator_id,
        )
    )
