"""The household stage's SQL on a real PostgreSQL (migration 0016): sightings de-duplicated by
event id with redeliveries accounted for, registrations applied only forward, and a home
visit touching everyone registered at its place (the silence rule counts visits that missed
a person, so a visit recorded on the others is evidence about them)."""

import asyncio
from datetime import UTC, datetime

import orjson

from civicgrid.db import households as store
from civicgrid.db.migrate import migrate
from civicgrid.db.pool import create_pool
from civicgrid.domain.householdflow import ResidentItem
from civicgrid.schemas.inbound import ResidentRecord

NOW = datetime(2026, 12, 4, 2, tzinfo=UTC)


def _resident(person: str, place: str) -> ResidentRecord:
    entry = {
        "household_id": "h:1",
        "place_code": place,
        "role": "head",
        "status": "registered",
        "registered_on": "2012-05-01",
    }
    value = {"person_code": person, "registrations": [entry]}
    return ResidentRecord.model_validate_json(orjson.dumps(value))


def _visit(event: str, person: str, place: str, offset: int) -> tuple[object, ...]:
    return (
        event,
        person,
        "home_visit",
        "present",
        place,
        "2026-11-01",
        None,
        None,
        "2026-11-01T10:00:00+08:00",
        "civic.presence.v1",
        0,
        offset,
        0,  # the owning by-person partition
    )


async def _run(url: str) -> dict[str, object]:
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
            async with connection.transaction():
                await store.write_residents(
                    connection,
                    [
                        (ResidentItem("h:a", 0, 5, _resident("h:a", "DP-1")), 0),
                        (ResidentItem("h:b", 0, 6, _resident("h:b", "DP-1")), 0),
                        (ResidentItem("h:c", 0, 7, _resident("h:c", "DP-2")), 0),
                    ],
                )
                # an older record of a's comes again: it does not move a backwards
                await store.write_residents(
                    connection, [(ResidentItem("h:a", 0, 1, _resident("h:a", "DP-9")), 0)]
                )
            await store.mark_reconciled(connection, ["h:a", "h:b", "h:c"], NOW)
            event = "0b6f8a9e-2d1c-4f7e-9a51-3c2b1a0d9e8f"
            async with connection.transaction():
                # the visit's sheet names b only; delivered twice (a redelivery)
                await store.write_sightings(connection, [_visit(event, "h:b", "DP-1", 10)])
                await store.write_sightings(connection, [_visit(event, "h:b", "DP-1", 10)])
            dirty = {
                r[0]
                for r in await connection.fetch(
                    "SELECT person_hash FROM household_persons WHERE dirty"
                )
            }
            return {
                "dirty": dirty,
                "sightings": await connection.fetchval("SELECT count(*) FROM household_sightings"),
                "duplicates": await connection.fetchval(
                    "SELECT count(*) FROM duplicate_deliveries"
                ),
                "a_place": await connection.fetchval(
                    "SELECT registrations->0->>'place_code' FROM household_residents "
                    "WHERE person_hash = 'h:a'"
                ),
            }
    finally:
        await pool.close()


def test_visits_touch_everyone_registered_there_and_writes_are_idempotent(
    database_url: str,
) -> None:
    found = asyncio.run(_run(database_url))
    assert found["dirty"] == {"h:a", "h:b"}  # c lives elsewhere: untouched
    assert found["sightings"] == 1
    assert found["duplicates"] == 1  # the redelivery, at the same offset
    assert found["a_place"] == "DP-1"
