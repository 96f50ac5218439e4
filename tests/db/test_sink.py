"""The events write path against a real PostgreSQL: the plain COPY, and the idempotent
fallback when a batch holds events already stored."""

import asyncio
import random
from dataclasses import replace

import asyncpg
import pytest

from benchmarks.sink import synthetic_plan
from civicgrid.db.migrate import migrate
from civicgrid.db.pool import create_pool
from civicgrid.db.sink import write_plan
from civicgrid.domain.case import Case, CaseReports
from civicgrid.domain.gridwork import BatchPlan
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.errors import RetryError
from tests.domain.test_case import sample


async def _write(url: str, plans: list[BatchPlan]) -> tuple[list[int], int, list[str]]:
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
            written = []
            for plan in plans:
                async with connection.transaction():
                    counts = await write_plan(connection, plan, {}, WorkingCalendar())
                written.append(counts["events"])
            rows = await connection.fetchval("SELECT count(*) FROM events")
            kinds = await connection.fetch(
                "SELECT DISTINCT jsonb_typeof(payload) FROM events ORDER BY 1"
            )
            return written, rows, [k[0] for k in kinds]
    finally:
        await pool.close()


def test_events_copy_then_replayed_rows_are_skipped(database_url: str) -> None:
    rng = random.Random(3)
    first = synthetic_plan(rng, 200, 0)
    fresh = synthetic_plan(rng, 100, 200)
    # half the first batch again (a replay that slipped past de-duplication) with new events
    mixed = BatchPlan(events=first.events[:100] + fresh.events)
    written, rows, kinds = asyncio.run(_write(database_url, [first, mixed, first]))
    assert written == [200, 100, 0]
    assert rows == 300
    assert kinds == ["object"]  # the payload is stored as a JSON object, not a JSON string


def test_a_failed_copy_leaves_the_transaction_usable(database_url: str) -> None:
    """The fallback runs inside the caller's transaction after the COPY's savepoint rolled
    back: the batch's other rows must still commit with it."""

    async def run() -> int:
        pool = await create_pool(database_url, max_size=1)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
                plan = synthetic_plan(random.Random(4), 50, 0)
                async with connection.transaction():
                    await write_plan(connection, plan, {}, WorkingCalendar())
                async with connection.transaction():
                    await write_plan(connection, plan, {"G001": 7}, WorkingCalendar())
                seq: int = await connection.fetchval(
                    "SELECT seq FROM grid_sequences WHERE grid_id = 'G001'"
                )
                return seq
        finally:
            await pool.close()

    assert asyncio.run(run()) == 7


def test_a_case_stored_by_another_writer_rolls_the_batch_back(database_url: str) -> None:
    """Two workers owning one grid for a moment (a rebalance) plan the same case version
    from different books; the second write must not commit its events with no case holding
    them (`cases` keeps the first row): it fails, to be retried on a reloaded book."""
    ours = sample()
    first, second = ours.reports
    theirs = replace(ours, reports=CaseReports.of([first, replace(second, event_id="e9")]))
    newer = replace(
        ours,
        version=ours.version + 1,
        reports=ours.reports.appended(replace(second, event_id="e3")),
    )

    async def write(connection: asyncpg.Connection, case: Case) -> None:
        async with connection.transaction():
            await write_plan(
                connection, BatchPlan(cases={case.case_id: case}), {}, WorkingCalendar()
            )

    async def run() -> tuple[int, list[str]]:
        pool = await create_pool(database_url, max_size=1)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
                await write(connection, ours)
                with pytest.raises(RetryError):
                    await write(connection, theirs)
                await write(connection, ours)  # the same case as stored: no conflict
                await write(connection, newer)
                row = await connection.fetchrow("SELECT version, data FROM cases")
                return row["version"], row["data"]["event_ids"]
        finally:
            await pool.close()

    assert asyncio.run(run()) == (ours.version + 1, ["e1", "e2", "e3"])
