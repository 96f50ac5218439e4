"""The per-station reconciliation report (issue 21, `civicgrid households report`): from
PostgreSQL alone, the station's territory from the state mirror (`mirror_actors`,
`mirror_grids`, `mirror_codes`).

A police station (派出所) is a department actor of civic.actors.v1 whose `departments` hold
`police` (L0103's lead); the grids it owns are its territory, as for every department:
its `grids`, else the grids inside its `district` / `street` / `community` (none named:
every grid).
"""

from dataclasses import dataclass

import asyncpg

from civicgrid.domain.households import FindingKind

POLICE = "police"

_STATION_GRIDS = """
SELECT g.grid_id FROM mirror_grids g, mirror_actors a
WHERE a.actor_id = $1
  AND (cardinality(a.grids) = 0 OR g.grid_id = ANY(a.grids))
  AND (a.district IS NULL OR g.district = a.district)
  AND (a.street IS NULL OR g.street = a.street)
  AND (a.community IS NULL OR g.community = a.community)
ORDER BY g.grid_id"""

# registered entries at places in the grids: households and people checked there
_CHECKED = """
WITH entries AS (
    SELECT r.person_hash, e->>'household_id' AS household, e->>'place_code' AS place
    FROM household_residents r, jsonb_array_elements(r.registrations) e
    WHERE NOT r.forgotten AND e->>'status' = 'registered'
), here AS (
    SELECT entries.* FROM entries JOIN mirror_codes c ON c.code = entries.place
    WHERE c.grid_id = ANY($1)
)
SELECT (SELECT count(DISTINCT household) FROM here),
       (SELECT count(*) FROM (
            SELECT person_hash FROM here
            UNION SELECT person_hash FROM household_findings WHERE grid_id = ANY($1)) p)"""

_BY_KIND = """
SELECT s.kind,
       count(*) FILTER (WHERE s.raised) AS raised,
       count(*) FILTER (WHERE NOT s.raised) AS withdrawn,
       count(c.case_id) FILTER (WHERE c.is_open) AS cases_open,
       count(c.case_id) FILTER (WHERE c.state = 'CLOSED') AS cases_closed,
       count(c.case_id) FILTER (WHERE c.state = 'CANCELLED') AS cases_cancelled
FROM household_finding_state s
LEFT JOIN household_cases h USING (finding_id)
LEFT JOIN cases c ON c.case_id = h.case_id
WHERE s.grid_id = ANY($1)
GROUP BY s.kind"""


@dataclass(frozen=True, slots=True)
class KindRow:
    kind: str
    raised: int  # findings standing now
    withdrawn: int  # findings new evidence removed
    cases_open: int
    cases_closed: int
    cases_cancelled: int


@dataclass(frozen=True, slots=True)
class StationReport:
    station: str
    name: str | None
    grids: list[str]
    households: int
    people: int
    kinds: list[KindRow]


class NotAStationError(LookupError):
    pass


async def station_report(connection: asyncpg.Connection, station: str) -> StationReport:
    actor = await connection.fetchrow(
        "SELECT kind, name, departments FROM mirror_actors WHERE actor_id = $1", station
    )
    if actor is None:
        raise NotAStationError(f"no actor {station!r} on the roster (civic.actors.v1)")
    if actor["kind"] != "department" or POLICE not in actor["departments"]:
        raise NotAStationError(f"{station!r} is not a police station (a department with police)")
    grids = [row[0] for row in await connection.fetch(_STATION_GRIDS, station)]
    households, people = await connection.fetchrow(_CHECKED, grids)
    found = {row["kind"]: row for row in await connection.fetch(_BY_KIND, grids)}
    kinds = [
        KindRow(
            kind.value,
            *(
                int(found[kind.value][c]) if kind.value in found else 0
                for c in (
                    "raised",
                    "withdrawn",
                    "cases_open",
                    "cases_closed",
                    "cases_cancelled",
                )
            ),
        )
        for kind in FindingKind
    ]
    return StationReport(station, actor["name"], grids, households, people, kinds)
