"""Sink rows/s: `write_plan` on synthetic batch plans, one transaction per batch, as the grid
stage calls it (COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT)."""

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from civicgrid.db.pool import create_pool
from civicgrid.db.sink import write_plan
from civicgrid.domain.gridwork import BatchPlan
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.topics import catalogue as topics

_KINDS = ("scan", "report", "patrol")


def synthetic_plan(rng: random.Random, size: int, first_offset: int) -> BatchPlan:
    """Event rows shaped like the grid stage's: a masked payload of ~300 bytes of JSON."""
    now = datetime.now(UTC)
    plan = BatchPlan()
    for i in range(size):
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        grid = f"G{rng.randrange(36):03d}"
        code = f"C-{grid}-{rng.randrange(10_000):05d}"
        payload = {
            "event": {
                "event_id": str(event_id),
                "occurred_at": now.isoformat(),
                "code": code,
                "description": "路灯不亮，晚上很黑，请尽快修理" * 2,
            },
            "enrichment": {"grid_id": grid, "kind": "streetlight", "authorised": True},
        }
        plan.events.append(
            (
                event_id,
                rng.choice(_KINDS),
                topics.REPORTS.name,
                first_offset % 4,
                first_offset + i,
                grid,
                code,
                False,
                f"{rng.getrandbits(64):016x}",
                "streetlight",
                "P3",
                None,
                now - timedelta(seconds=1),
                now,
                payload,
            )
        )
    return plan


async def rows_per_second(database_url: str, rows: int, batch: int, seed: int) -> float:
    rng = random.Random(seed)
    plans = [synthetic_plan(rng, batch, n * batch) for n in range(rows // batch)]
    calendar = WorkingCalendar()
    pool = await create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as connection:
            started = time.perf_counter()
            for plan in plans:
                async with connection.transaction():
                    await write_plan(connection, plan, {}, calendar)
            elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return len(plans) * batch / elapsed


def run(database_url: str, rows: int, batch: int, seed: int) -> float:
    return asyncio.run(rows_per_second(database_url, rows, batch, seed))
