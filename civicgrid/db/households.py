"""The household stage's SQL (migration 0016, docs/households.md): idempotent writes of the
registrations and sightings a by-person batch holds, and the reads and writes of a
reconciliation pass. Every person id here is already a keyed hash.

Sightings are de-duplicated by event id with no window (as `events` are): a delivery of a
stored event id lands in `duplicate_deliveries`, so every presence offset is in
`household_sightings`, `duplicate_deliveries` or `dead_letters`. A registration is applied
only from a later offset of its source partition (compacted state: the last record wins).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from civicgrid.domain.householdflow import FindingState, ResidentItem, Transition
from civicgrid.domain.households import Sighting
from civicgrid.schemas.enums import PresenceKind, PresenceSource
from civicgrid.schemas.inbound import Registration, ResidentRecord

_SIGHTING_COLUMNS = (
    "event_id",
    "person_hash",
    "source",
    "kind",
    "place_code",
    "day",
    "born_on",
    "observer_hash",
    "occurred_at",
    "topic",
    "partition",
    "offset",
    "owner",
)
_SIGHTINGS_IN = """CREATE TEMP TABLE IF NOT EXISTS household_sightings_in (
    event_id text, person_hash text, source text, kind text, place_code text, day text,
    born_on text, observer_hash text, occurred_at text, topic text, partition integer,
    "offset" bigint, owner integer
) ON COMMIT DELETE ROWS"""
# New rows in; a delivery whose event id is stored goes to duplicate_deliveries (the same
# offset again: a redelivery; another offset: the source sent the id twice).
_APPLY_SIGHTINGS = """
WITH new AS (
    INSERT INTO household_sightings (event_id, person_hash, source, kind, place_code, day,
        born_on, observer_hash, occurred_at, topic, partition, "offset")
    SELECT DISTINCT ON (event_id::uuid) event_id::uuid, person_hash, source, kind, place_code,
        day::date, born_on::date, observer_hash, occurred_at::timestamptz, topic, partition,
        "offset"
    FROM household_sightings_in ORDER BY event_id::uuid, partition, "offset"
    ON CONFLICT DO NOTHING
    RETURNING topic, partition, "offset"
)
INSERT INTO duplicate_deliveries (topic, partition, "offset", event_id)
SELECT s.topic, s.partition, s."offset", s.event_id::uuid FROM household_sightings_in s
WHERE NOT EXISTS (
    SELECT 1 FROM new n
    WHERE n.topic = s.topic AND n.partition = s.partition AND n."offset" = s."offset")
ON CONFLICT DO NOTHING"""
_TOUCH_FROM_SIGHTINGS = """
INSERT INTO household_persons (person_hash, partition, dirty)
SELECT DISTINCT person_hash, owner, true FROM household_sightings_in
ON CONFLICT (person_hash) DO UPDATE SET dirty = true WHERE NOT household_persons.dirty"""
# A home visit is evidence about everyone registered at its place, not only about the
# people on its sheet: the silence rule (应销未销) counts the visits that missed a person.
_TOUCH_VISITED = """
WITH visited AS (
    SELECT DISTINCT place_code FROM household_sightings_in
    WHERE source = 'home_visit' AND place_code IS NOT NULL
)
UPDATE household_persons p SET dirty = true
FROM visited v, household_residents r
WHERE r.registrations @> jsonb_build_array(jsonb_build_object('place_code', v.place_code))
  AND NOT r.forgotten AND p.person_hash = r.person_hash AND NOT p.dirty"""
_APPLY_RESIDENTS = """
INSERT INTO household_residents (person_hash, src_partition, src_offset, forgotten, born_on,
    registrations)
SELECT p, sp, so, f, b, r::jsonb FROM unnest($1::text[], $2::int[], $3::bigint[],
    $4::boolean[], $5::date[], $6::text[]) AS u(p, sp, so, f, b, r)
ON CONFLICT (person_hash) DO UPDATE SET
    src_partition = excluded.src_partition, src_offset = excluded.src_offset,
    forgotten = excluded.forgotten, born_on = excluded.born_on,
    registrations = excluded.registrations, updated_at = clock_timestamp()
WHERE household_residents.src_partition <> excluded.src_partition
   OR household_residents.src_offset < excluded.src_offset"""
_TOUCH = """
INSERT INTO household_persons (person_hash, partition, dirty)
SELECT * FROM unnest($1::text[], $2::int[], $3::boolean[])
ON CONFLICT (person_hash) DO UPDATE SET dirty = true WHERE NOT household_persons.dirty"""


async def write_sightings(connection: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """`rows`: `SightingItem.row()` shapes with the owning by-person partition appended."""
    if not rows:
        return
    await connection.execute(_SIGHTINGS_IN)
    await connection.copy_records_to_table(
        "household_sightings_in", records=rows, columns=_SIGHTING_COLUMNS
    )
    await connection.execute(_APPLY_SIGHTINGS)
    await connection.execute(_TOUCH_FROM_SIGHTINGS)
    await connection.execute(_TOUCH_VISITED)
    await connection.execute("TRUNCATE household_sightings_in")


async def write_residents(
    connection: asyncpg.Connection, items: Sequence[tuple[ResidentItem, int]]
) -> None:
    """Each person's latest record of the batch (by source offset), with its owner."""
    latest: dict[str, tuple[ResidentItem, int]] = {}
    for item, owner in items:
        held = latest.get(item.person)
        if held is None or held[0].src_offset < item.src_offset:
            latest[item.person] = (item, owner)
    if not latest:
        return
    chosen = [latest[p] for p in sorted(latest)]
    await connection.execute(
        _APPLY_RESIDENTS,
        [i.person for i, _ in chosen],
        [i.src_partition for i, _ in chosen],
        [i.src_offset for i, _ in chosen],
        [i.record is None for i, _ in chosen],
        [None if i.record is None else i.record.born_on for i, _ in chosen],
        [_registrations(i.record) for i, _ in chosen],
    )
    await connection.execute(
        _TOUCH,
        [i.person for i, _ in chosen],
        [owner for _, owner in chosen],
        [True] * len(chosen),
    )


_REGISTRATIONS = TypeAdapter(tuple[Registration, ...])


def _registrations(record: ResidentRecord | None) -> str:
    """The entries as JSON text, cast to jsonb in SQL (a list per row would otherwise be
    taken for one more dimension of the array)."""
    if record is None:
        return "[]"
    return _REGISTRATIONS.dump_json(record.registrations).decode()


async def sweep(connection: asyncpg.Connection, partition: int, day_start: datetime) -> None:
    """The daily sweep: every person the partition owns not reconciled since the day began
    is reconciled again (one reconciled today, as a fresh load's are, is not)."""
    await connection.execute(
        "UPDATE household_persons SET dirty = true WHERE partition = $1 AND NOT dirty "
        "AND (reconciled_at IS NULL OR reconciled_at < $2)",
        partition,
        day_start,
    )


async def dirty_persons(
    connection: asyncpg.Connection, partitions: Sequence[int], limit: int
) -> list[str]:
    rows = await connection.fetch(
        "SELECT person_hash FROM household_persons WHERE dirty AND partition = ANY($1) "
        "ORDER BY person_hash LIMIT $2",
        list(partitions),
        limit,
    )
    return [row[0] for row in rows]


async def dirty_count(connection: asyncpg.Connection, partitions: Sequence[int]) -> int:
    value = await connection.fetchval(
        "SELECT count(*) FROM household_persons WHERE dirty AND partition = ANY($1)",
        list(partitions),
    )
    return int(value or 0)


@dataclass
class PersonsState:
    residents: dict[str, ResidentRecord]
    sightings: dict[str, list[Sighting]]
    visits: dict[str, frozenset[date]]
    findings: dict[str, set[str]]  # person -> the finding ids they raised


async def load_persons(connection: asyncpg.Connection, persons: Sequence[str]) -> PersonsState:
    residents: dict[str, ResidentRecord] = {}
    for person, born_on, registrations in await connection.fetch(
        "SELECT person_hash, born_on, registrations::text FROM household_residents "
        "WHERE person_hash = ANY($1) AND NOT forgotten",
        list(persons),
    ):
        entries = _REGISTRATIONS.validate_json(registrations)
        residents[person] = ResidentRecord.model_construct(
            schema_version=1, person_code=person, born_on=born_on, registrations=entries
        )
    sightings: dict[str, list[Sighting]] = defaultdict(list)
    for person, source, kind, place, day, born_on in await connection.fetch(
        "SELECT person_hash, source, kind, place_code, day, born_on FROM household_sightings "
        "WHERE person_hash = ANY($1)",
        list(persons),
    ):
        sightings[person].append(Sighting(_SOURCES[source], _KINDS[kind], place, day, born_on))
    places = sorted({r.place_code for rec in residents.values() for r in rec.registrations})
    visits = {
        place: frozenset(days)
        for place, days in await connection.fetch(
            "SELECT place_code, array_agg(DISTINCT day) FROM household_sightings "
            "WHERE source = 'home_visit' AND place_code = ANY($1) GROUP BY place_code",
            places,
        )
    }
    findings: dict[str, set[str]] = defaultdict(set)
    for person, fid in await connection.fetch(
        "SELECT person_hash, finding_id FROM household_findings WHERE person_hash = ANY($1)",
        list(persons),
    ):
        findings[person].add(fid)
    return PersonsState(residents, dict(sightings), visits, dict(findings))


_SOURCES = {s.value: s for s in PresenceSource}
_KINDS = {k.value: k for k in PresenceKind}


async def observed_since(connection: asyncpg.Connection) -> date | None:
    """When presence data starts: the earliest sighting stored (silence before it proves
    nothing)."""
    value = await connection.fetchval("SELECT min(day) FROM household_sightings")
    return value if isinstance(value, date) else None


async def write_findings(
    connection: asyncpg.Connection,
    persons: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """The persons' findings now: `rows` (finding_row shapes) replace what they raised."""
    keep_person = [r[0] for r in rows]
    keep_finding = [r[1] for r in rows]
    await connection.execute(
        "DELETE FROM household_findings f WHERE person_hash = ANY($1) AND NOT EXISTS ("
        "SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(p, f) "
        "WHERE k.p = f.person_hash AND k.f = f.finding_id)",
        list(persons),
        keep_person,
        keep_finding,
    )
    if rows:
        await connection.executemany(
            """INSERT INTO household_findings (person_hash, finding_id, kind, subject, rule,
                   place_code, grid_id, decisive_on, thresholds, evidence, households, found_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (person_hash, finding_id) DO UPDATE SET
                   rule = excluded.rule, place_code = excluded.place_code,
                   grid_id = excluded.grid_id, decisive_on = excluded.decisive_on,
                   thresholds = excluded.thresholds, evidence = excluded.evidence,
                   households = excluded.households""",
            rows,
        )


async def finding_states(
    connection: asyncpg.Connection, finding_ids: Sequence[str]
) -> tuple[dict[str, int], dict[str, FindingState]]:
    """How many persons raise each finding now, and what was last published of it."""
    ids = sorted(finding_ids)
    rows = await connection.fetch(
        "SELECT finding_id, count(*) FROM household_findings WHERE finding_id = ANY($1) "
        "GROUP BY finding_id",
        ids,
    )
    raisers = {str(fid): int(n) for fid, n in rows}
    states = {
        fid: FindingState(kind, grid, raised, generation)
        for fid, kind, grid, raised, generation in await connection.fetch(
            "SELECT finding_id, kind, grid_id, raised, generation FROM household_finding_state "
            "WHERE finding_id = ANY($1)",
            ids,
        )
    }
    return raisers, states


async def write_transitions(
    connection: asyncpg.Connection, changes: Sequence[Transition], at: datetime
) -> None:
    if not changes:
        return
    await connection.executemany(
        """INSERT INTO household_finding_state (finding_id, kind, grid_id, raised, generation,
               changed_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (finding_id) DO UPDATE SET kind = excluded.kind,
               grid_id = excluded.grid_id, raised = excluded.raised,
               generation = excluded.generation, changed_at = excluded.changed_at""",
        [(c.finding_id, c.kind, c.grid_id, c.raised, c.generation, at) for c in changes],
    )


async def mark_reconciled(
    connection: asyncpg.Connection, persons: Sequence[str], at: datetime
) -> None:
    await connection.execute(
        "UPDATE household_persons SET dirty = false, reconciled_at = $2 "
        "WHERE person_hash = ANY($1)",
        list(persons),
        at,
    )


# --- the grid stage's side ------------------------------------------------------------------


async def household_cases(
    connection: asyncpg.Connection, finding_ids: Sequence[str]
) -> dict[str, tuple[str | None, int]]:
    """finding id -> (the case it opened or joined, the last generation applied)."""
    if not finding_ids:
        return {}
    rows = await connection.fetch(
        "SELECT finding_id, case_id, generation FROM household_cases WHERE finding_id = ANY($1)",
        sorted(set(finding_ids)),
    )
    return {fid: (case_id, generation) for fid, case_id, generation in rows}


async def write_household_cases(
    connection: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]
) -> int:
    if not rows:
        return 0
    await connection.executemany(
        """INSERT INTO household_cases (finding_id, case_id, grid_id, kind, raised, generation,
               updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (finding_id) DO UPDATE SET case_id = excluded.case_id,
               grid_id = excluded.grid_id, raised = excluded.raised,
               generation = excluded.generation, updated_at = excluded.updated_at
           WHERE household_cases.generation < excluded.generation""",
        rows,
    )
    return len(rows)
