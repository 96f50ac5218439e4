"""Waiting on PostgreSQL in tests: the system of record is where effects are checked."""

import asyncio
import time
from typing import Any

import asyncpg

from civicgrid.db.queries import ACCOUNTED_OFFSETS


async def fetchval(url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def wait_until(url: str, sql: str, expected: Any, wait_s: float = 60.0) -> Any:
    """Poll `sql` until it returns `expected`; return the last value either way."""
    deadline = time.monotonic() + wait_s
    value = None
    while time.monotonic() < deadline:
        value = await fetchval(url, sql)
        if value == expected:
            return value
        await asyncio.sleep(0.25)
    return value


async def unaccounted(
    url: str, published: set[tuple[str, int, int]], wait_s: float = 60.0
) -> set[tuple[str, int, int]]:
    """Poll until every published offset is in `events`, `duplicate_deliveries` or
    `dead_letters`; return those still missing (empty when all arrived in time)."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await fetch(url, ACCOUNTED_OFFSETS)
        missing = published - {(r[0], r[1], r[2]) for r in rows}
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.5)
