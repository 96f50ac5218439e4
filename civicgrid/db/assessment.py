"""One day's assessment (量化考核, SPEC §6) as a pure function of Postgres rows.

The facts loader reads the day's events and the case history up to the period's end, feeds
`civicgrid.domain.indicators`, and returns one snapshot per subject with the ids behind every
figure. The leader's timer and `civicgrid assess` both call `assess_day`, so a day
recomputed from history gives exactly the figures the stream stored. docs/assessment.md
defines every figure.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from civicgrid.domain.cityview import CityView
from civicgrid.domain.indicators import (
    DEPARTMENT_WEIGHTS,
    WORKER_WEIGHTS,
    CaseOutcome,
    DepartmentTally,
    Rate,
    WorkerTally,
    department_scores,
    worker_scores,
    worker_share,
)
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.enums import CaseAction, CaseState, SubjectKind

# A grid worker verifies a reported case (核实) and checks a handled one (核查) within these,
# counted in the working calendar's time as SLA deadlines are (SPEC §5): a case opened at
# night cannot be verified within two hours by anyone, however keen.
VERIFY_WITHIN = timedelta(hours=2)
CHECK_WITHIN = timedelta(hours=2)
# Patrol coverage is over the 30 days ending with the assessed day: a worker walks the whole
# grid and visits its households over a month, not in one day.
COVERAGE_DAYS = 30
REPORTS_UPLOADED = "reports_uploaded"
_CHECK_ACTIONS = frozenset({CaseAction.CHECK_PASS.value, CaseAction.CHECK_FAIL.value})
# What a check answers: the case was sent to check, or a worker fixed it on the spot.
_AWAITING_CHECK = frozenset({CaseState.CHECKING.value, CaseState.SELF_HANDLED.value})
# case_history reason of an escalation: "escalated to <level>: <why>" (domain/casebook.py)
_ESCALATED = "escalated"


@dataclass(frozen=True, slots=True)
class GridPopulation:
    """What a grid holds, from the registry: its workers, codes and households."""

    grid_id: str
    street: str
    households: int
    codes: frozenset[str]
    workers: tuple[tuple[str, str], ...]  # (clear id, keyed hash), as events carry the hash


def _population(
    grid_id: str,
    street: str,
    households: int,
    codes: Iterable[str],
    worker_ids: Iterable[str],
    hasher: KeyedHasher,
) -> GridPopulation:
    workers = tuple((w, hasher.hash(w)) for w in sorted(worker_ids))
    return GridPopulation(grid_id, street, households, frozenset(codes), workers)


def city_population(city: CityView, hasher: KeyedHasher) -> dict[str, GridPopulation]:
    """From a worker's city view (the leader's timer)."""
    codes: dict[str, set[str]] = defaultdict(set)
    for code, info in city.codes.items():
        codes[info.grid_id].add(code)
    return {
        grid.grid_id: _population(
            grid.grid_id,
            grid.street,
            grid.households,
            codes.get(grid.grid_id, ()),
            grid.worker_ids,
            hasher,
        )
        for grid in city.grids.values()
    }


async def mirrored_population(
    connection: asyncpg.Connection, hasher: KeyedHasher, street: str | None = None
) -> dict[str, GridPopulation]:
    """From the state mirror in PostgreSQL (`civicgrid assess`: no broker needed); only
    `street`'s grids when it is given."""
    grids = await connection.fetch(
        "SELECT grid_id, street, households, worker_ids FROM mirror_grids "
        "WHERE $1::text IS NULL OR street = $1",
        street,
    )
    ids = [row["grid_id"] for row in grids]
    codes = await connection.fetch(
        "SELECT grid_id, array_agg(code) FROM mirror_codes WHERE grid_id = ANY($1) GROUP BY 1",
        ids,
    )
    by_grid = {row[0]: row[1] for row in codes}
    return {
        row["grid_id"]: _population(
            row["grid_id"],
            row["street"],
            row["households"],
            by_grid.get(row["grid_id"], ()),
            row["worker_ids"],
            hasher,
        )
        for row in grids
    }


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar day in the city's zone, assessed as of `as_of` (its end once it is over);
    `calendar` times verifies and checks."""

    day: date
    start: datetime
    end: datetime
    as_of: datetime
    calendar: WorkingCalendar

    @property
    def coverage_start(self) -> datetime:
        """Midnight of the first day of the coverage window (wall-clock arithmetic in the
        zone: `start` carries it)."""
        return self.start - timedelta(days=COVERAGE_DAYS - 1)

    @classmethod
    def of(cls, day: date, calendar: WorkingCalendar, now: datetime) -> "Period":
        start = datetime.combine(day, time(), calendar.zone)
        end = datetime.combine(day + timedelta(days=1), time(), calendar.zone)
        if now <= start:
            raise ValueError(f"{day} has not begun")
        return cls(day, start, end, min(end, now), calendar)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One subject's figures for a period; `trace` names the ids on each side of a rate."""

    subject_kind: SubjectKind
    subject_id: str
    grid_id: str | None
    indicators: dict[str, float | None]
    score: float | None
    grade: str | None
    trace: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Row:
    """One case_history row, as far as the assessment needs it."""

    version: int
    state: str
    action: str  # the first word of the reason: "check_fail", "extend", "registered", ...
    changed_at: datetime
    department: str | None
    deadline: datetime | None


@dataclass(slots=True)
class _Facts:
    history: dict[str, list[_Row]] = field(default_factory=dict)
    reports: list[asyncpg.Record] = field(default_factory=list)
    case_reports: list[asyncpg.Record] = field(default_factory=list)
    updates: list[asyncpg.Record] = field(default_factory=list)
    fieldwork: list[asyncpg.Record] = field(default_factory=list)
    opened_at: dict[str, datetime] = field(default_factory=dict)


_HISTORY = """
SELECT h.case_id, h.version, h.state, split_part(h.reason, ' ', 1) AS action, h.changed_at,
       h.snapshot->'departments'->>0 AS department,
       (h.snapshot->>'deadline')::timestamptz AS deadline
FROM case_history h JOIN cases c USING (case_id)
WHERE c.opened_at < $2 AND (c.is_open OR c.updated_at >= $1) AND c.grid_id = ANY($3)
  AND h.changed_at < $2
ORDER BY h.case_id, h.version"""
_REPORTS = """
SELECT event_id::text AS event_id, actor_hash, grid_id, case_id, occurred_at,
       payload->'event'->>'reporter_role' AS role
FROM events
WHERE kind = 'report' AND occurred_at >= $1 AND occurred_at < $2 AND grid_id = ANY($3)
ORDER BY occurred_at, event_id"""
# Every report joined to the cases in play, whatever its day: a worker may have reported first.
_CASE_REPORTS = """
SELECT case_id, actor_hash, occurred_at FROM events
WHERE kind = 'report' AND case_id = ANY($1) AND occurred_at < $2"""
_UPDATES = """
SELECT event_id::text AS event_id, actor_hash, grid_id, case_id, occurred_at,
       payload->'event'->>'action' AS action
FROM events
WHERE kind = 'case_update' AND case_id = ANY($1) AND occurred_at < $2
ORDER BY occurred_at, event_id"""
_FIELDWORK = """
SELECT event_id::text AS event_id, kind, actor_hash, grid_id, code, occurred_at,
       payload->'event'->>'kind' AS patrol_kind,
       payload->'event'->>'household_id' AS household_id,
       payload->'event'->>'case_id' AS case_id
FROM events
WHERE kind IN ('scan', 'patrol') AND occurred_at >= $1 AND occurred_at < $2
  AND actor_hash = ANY($3)
ORDER BY occurred_at, event_id"""


async def load_facts(
    connection: asyncpg.Connection, period: Period, grids: Mapping[str, GridPopulation]
) -> _Facts:
    """The rows one day's figures are made of; call inside a REPEATABLE READ transaction."""
    grid_ids = sorted(grids)
    hashes = sorted({h for grid in grids.values() for _, h in grid.workers})
    facts = _Facts()
    for row in await connection.fetch(_HISTORY, period.start, period.as_of, grid_ids):
        facts.history.setdefault(row["case_id"], []).append(
            _Row(
                row["version"],
                row["state"],
                row["action"],
                row["changed_at"],
                row["department"],
                row["deadline"],
            )
        )
    facts.reports = list(await connection.fetch(_REPORTS, period.start, period.as_of, grid_ids))
    case_ids = sorted(facts.history)
    facts.case_reports = list(await connection.fetch(_CASE_REPORTS, case_ids, period.as_of))
    facts.updates = list(await connection.fetch(_UPDATES, case_ids, period.as_of))
    facts.fieldwork = list(
        await connection.fetch(_FIELDWORK, period.coverage_start, period.as_of, hashes)
    )
    verified = sorted({r["case_id"] for r in facts.fieldwork if _verify_in(r, period)})
    rows = await connection.fetch(
        "SELECT case_id, opened_at FROM cases WHERE case_id = ANY($1)", verified
    )
    facts.opened_at = {row["case_id"]: row["opened_at"] for row in rows}
    return facts


def _verify_in(row: asyncpg.Record, period: Period) -> bool:
    """A patrol `verify` naming a case, made in the period itself (the fieldwork rows reach
    back over the coverage window)."""
    return (
        row["patrol_kind"] == "verify"
        and bool(row["case_id"])
        and period.start <= row["occurred_at"] < period.as_of
    )


def case_outcome(case_id: str, rows: Sequence[_Row], period: Period) -> CaseOutcome | None:
    """Where a case stands at `period.as_of` for its lead department; None when it is not
    the department's work that day: finished before the day began, with no lead department,
    or settled by a grid worker's on-the-spot fix (which the worker's own figures credit)."""
    last = rows[-1]
    before = [row for row in rows if row.changed_at < period.start]
    if before and not CaseState(before[-1].state).is_open and before[-1] is last:
        return None
    if last.department is None or last.deadline is None:
        return None
    state = CaseState(last.state)
    closing = _closing_row(rows)
    if state is CaseState.SELF_HANDLED or (
        closing is not None and rows[closing - 1].state == CaseState.SELF_HANDLED.value
    ):
        return None
    return CaseOutcome(
        case_id,
        last.department,
        state,
        last.deadline,
        closed_at=rows[closing].changed_at if closing is not None else None,
        reworked=any(row.action == CaseAction.CHECK_FAIL.value for row in rows),
        extended=any(row.action in _EXTENDED for row in rows),
        first_deadline=_first_deadline(rows),
        supervised=any(row.action == CaseAction.SUPERVISE.value for row in rows),
    )


# an extension applied at once (SPEC §2 `extend`) or an approved request (SPEC §10)
_EXTENDED = frozenset({CaseAction.EXTEND.value, CaseAction.APPROVE_EXTENSION.value})


def _first_deadline(rows: Sequence[_Row]) -> datetime | None:
    """The deadline in force just before the case's first escalation, None if it was never
    escalated. An escalation (SLA breach, repeats, returns, reworks) restarts the clock at the
    higher rung; 按期结案率 judges the case against the time it was first given."""
    escalation = next((i for i, row in enumerate(rows) if row.action == _ESCALATED), None)
    if escalation is None:
        return None
    before = [row.deadline for row in rows[:escalation] if row.deadline is not None]
    # escalated before it was ever timed (a repeat point at registration): its first clock
    return before[-1] if before else next(r.deadline for r in rows if r.deadline is not None)


def _closing_row(rows: Sequence[_Row]) -> int | None:
    """Index of the row that last entered CLOSED, if the case is closed now."""
    if rows[-1].state != CaseState.CLOSED.value:
        return None
    index = len(rows) - 1
    while index > 0 and rows[index - 1].state == CaseState.CLOSED.value:
        index -= 1
    return index


def _trace(rate: Rate) -> dict[str, Any]:
    out: dict[str, Any] = {"numerator": list(rate.numerator), "denominator": list(rate.denominator)}
    if rate.population is not None:
        out["population"] = rate.population
    return out


def departments(
    facts: _Facts, period: Period, weights: Mapping[str, float] = DEPARTMENT_WEIGHTS
) -> list[Snapshot]:
    tallies: dict[str, DepartmentTally] = {}
    for case_id in sorted(facts.history):
        outcome = case_outcome(case_id, facts.history[case_id], period)
        if outcome is None:
            continue
        tally = tallies.setdefault(
            outcome.department, DepartmentTally(outcome.department, period.as_of)
        )
        tally.add(outcome)
    snapshots = []
    for name in sorted(tallies):
        score = department_scores(tallies[name], weights)
        snapshots.append(
            Snapshot(
                SubjectKind.DEPARTMENT,
                name,
                None,
                {figure: rate.value for figure, rate in score.rates.items()},
                score.composite,
                score.grade,
                {figure: _trace(rate) for figure, rate in score.rates.items()},
            )
        )
    return snapshots


def _state_at(rows: Sequence[_Row] | None, moment: datetime) -> str | None:
    if not rows:
        return None
    known = [row for row in rows if row.changed_at <= moment]
    return known[-1].state if known else None


def workers(
    facts: _Facts,
    period: Period,
    grids: Mapping[str, GridPopulation],
    weights: Mapping[str, float] = WORKER_WEIGHTS,
) -> list[Snapshot]:
    tallies = {
        (grid.grid_id, h): WorkerTally(h, grid.grid_id)
        for grid in grids.values()
        for _, h in grid.workers
    }
    # (case, worker) -> when the worker first reported it
    first_report: dict[tuple[str, str], datetime] = {}
    for row in facts.case_reports:
        key = (row["case_id"], row["actor_hash"])
        first_report[key] = min(first_report.get(key, row["occurred_at"]), row["occurred_at"])
    self_fixes = {
        (row["case_id"], row["actor_hash"])
        for row in facts.updates
        if row["action"] == CaseAction.SELF_HANDLE.value
    }
    for row in facts.reports:
        grid, case_id, reporter = row["grid_id"], row["case_id"], row["actor_hash"]
        tally = tallies.get((grid, reporter))
        if tally is not None:
            # a real case: the report opened or joined one that was not cancelled as false
            state = _state_at(facts.history.get(case_id), period.as_of) if case_id else None
            valid = state is not None and state != CaseState.CANCELLED.value
            tally.report(row["event_id"], valid, (case_id, reporter) in self_fixes)
        elif row["role"] == "resident":
            # A grid's workers share it: what one of them found first, none of them missed.
            found = [first_report.get((case_id, h)) for _, h in grids[grid].workers]
            preceded = any(at is not None and at < row["occurred_at"] for at in found)
            for _, h in grids[grid].workers:
                tallies[grid, h].public_report(row["event_id"], preceded)
    for row in facts.fieldwork:
        tally = tallies.get((row["grid_id"], row["actor_hash"]))
        if tally is None:
            continue  # work outside the worker's own grid: scan_audits records it
        code = row["code"]
        if code is not None and code in grids[row["grid_id"]].codes:
            tally.scan(row["event_id"], code)
        if row["patrol_kind"] == "visit" and row["household_id"]:
            tally.visit(row["event_id"], row["household_id"])
        opened = facts.opened_at.get(row["case_id"] or "")
        if _verify_in(row, period) and opened is not None:
            taken = period.calendar.working_time(opened, row["occurred_at"])
            tally.verify(row["event_id"], taken <= VERIFY_WITHIN)
    for row in facts.updates:
        tally = tallies.get((row["grid_id"], row["actor_hash"]))
        if tally is None or row["action"] not in _CHECK_ACTIONS:
            continue
        if not period.start <= row["occurred_at"] < period.as_of:
            continue
        waiting = [
            r.changed_at
            for r in facts.history.get(row["case_id"], ())
            if r.state in _AWAITING_CHECK and r.changed_at <= row["occurred_at"]
        ]
        on_time = (
            bool(waiting)
            and period.calendar.working_time(max(waiting), row["occurred_at"]) <= CHECK_WITHIN
        )
        tally.check(row["event_id"], on_time)
    snapshots = []
    for (grid_id, h), tally in sorted(tallies.items()):
        population = grids[grid_id]
        workers = len(population.workers)
        score = worker_scores(
            tally,
            worker_share(len(population.codes), workers),
            worker_share(population.households, workers),
            weights,
        )
        indicators: dict[str, float | None] = {REPORTS_UPLOADED: float(len(tally.reports))}
        indicators |= {figure: rate.value for figure, rate in score.rates.items()}
        trace = {REPORTS_UPLOADED: {"numerator": list(tally.reports), "denominator": []}}
        trace |= {figure: _trace(rate) for figure, rate in score.rates.items()}
        snapshots.append(
            Snapshot(
                SubjectKind.GRID_WORKER,
                f"{grid_id}/{h}",
                grid_id,
                indicators,
                score.composite,
                score.grade,
                trace,
            )
        )
    return snapshots


async def assess_day(
    connection: asyncpg.Connection,
    period: Period,
    grids: Mapping[str, GridPopulation],
    department_weights: Mapping[str, float] = DEPARTMENT_WEIGHTS,
    worker_weights: Mapping[str, float] = WORKER_WEIGHTS,
) -> list[Snapshot]:
    """Every department and grid worker of `grids` for the period, from one consistent read."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        facts = await load_facts(connection, period, grids)
    return departments(facts, period, department_weights) + workers(
        facts, period, grids, worker_weights
    )


_UPSERT = """
INSERT INTO assessments (day, subject_kind, subject_id, grid_id, as_of, indicators, score,
                         grade, trace)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (day, subject_kind, subject_id) DO UPDATE SET
    grid_id = excluded.grid_id, as_of = excluded.as_of, indicators = excluded.indicators,
    score = excluded.score, grade = excluded.grade, trace = excluded.trace,
    computed_at = clock_timestamp()
WHERE assessments.as_of <= excluded.as_of
  AND (assessments.indicators, assessments.score, assessments.grade, assessments.trace)
      IS DISTINCT FROM (excluded.indicators, excluded.score, excluded.grade, excluded.trace)
RETURNING subject_kind, subject_id"""


async def store(
    connection: asyncpg.Connection, period: Period, snapshots: Iterable[Snapshot]
) -> set[tuple[str, str]]:
    """Upsert the whole city's snapshots of the period and drop subjects no longer in it.
    An unchanged row is left alone (its `as_of` stays the first moment it held) and a later
    standing is never replaced by an earlier one. Returns the (kind, subject) whose figures
    are new: the ones worth publishing."""
    changed: set[tuple[str, str]] = set()
    kept = list(snapshots)
    for s in kept:
        row = await connection.fetchrow(
            _UPSERT,
            period.day,
            s.subject_kind.value,
            s.subject_id,
            s.grid_id,
            period.as_of,
            s.indicators,
            s.score,
            s.grade,
            s.trace,
        )
        if row is not None:
            changed.add((row["subject_kind"], row["subject_id"]))
    # A subject can drop out as the day fills in (a department's one case turned out to be
    # a worker's self-handled fix): its earlier row would otherwise outlive it.
    await connection.execute(
        "DELETE FROM assessments WHERE day = $1 AND as_of <= $2 "
        "AND NOT (subject_kind || ' ' || subject_id = ANY($3::text[]))",
        period.day,
        period.as_of,
        [f"{s.subject_kind.value} {s.subject_id}" for s in kept],
    )
    return changed


async def stored(connection: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    return list(
        await connection.fetch(
            "SELECT * FROM assessments WHERE day = $1 ORDER BY subject_kind, subject_id", day
        )
    )


async def days_with_new_events(
    connection: asyncpg.Connection, since: datetime, zone: ZoneInfo
) -> list[date]:
    """Days whose standing may have moved since `since`: the days of the events that reached
    Postgres since, and for a scan or patrol also the days whose coverage window holds it
    (a late one, synced from a phone that was offline, moves the following days' coverage).
    Days in the future are the caller's to drop."""
    rows = await connection.fetch(
        "SELECT DISTINCT (occurred_at AT TIME ZONE $2)::date + reach AS day FROM events, "
        "generate_series(0, CASE WHEN kind IN ('scan', 'patrol') THEN $3 - 1 ELSE 0 END) reach "
        "WHERE processed_at > $1 ORDER BY 1",
        since,
        zone.key,
        COVERAGE_DAYS,
    )
    return [row["day"] for row in rows]


async def trace_rows(
    connection: asyncpg.Connection, ids: Sequence[str]
) -> dict[str, asyncpg.Record]:
    """What each traced id is: an event (uuid) or a case (grid~n)."""
    event_ids = [i for i in ids if "~" not in i]
    case_ids = [i for i in ids if "~" in i]
    events = await connection.fetch(
        "SELECT event_id::text AS id, kind, occurred_at AS at, grid_id, case_id, code, "
        "coalesce(payload->'event'->>'action', payload->'event'->>'kind', category) AS what "
        "FROM events WHERE event_id = ANY($1::uuid[])",
        event_ids,
    )
    cases = await connection.fetch(
        "SELECT case_id AS id, 'case' AS kind, opened_at AS at, grid_id, case_id, "
        "case_code AS code, state || ' deadline ' || coalesce(deadline::text, '-') AS what "
        "FROM cases WHERE case_id = ANY($1)",
        case_ids,
    )
    return {row["id"]: row for row in [*events, *cases]}
