"""The state mirror's write path against a real PostgreSQL: repeated and overlapping batches,
writers racing on one partition, and a partition recreated on the broker."""

import asyncio

import asyncpg
import orjson

from civicgrid.db.migrate import migrate
from civicgrid.db.mirror import Written, write_batch
from civicgrid.db.pool import create_pool
from civicgrid.domain.statemirror import CODES, PartitionBatch, StateChange
from schemas.inbound import RegistryRecord
from topics import catalogue as topics


def _code(code: str, grid_id: str) -> RegistryRecord:
    value = {"code": code, "element_type": "place", "kind": "doorplate", "grid_id": grid_id}
    return RegistryRecord.model_validate_json(orjson.dumps(value))


def _batch(
    changes: list[StateChange], highwater: int, *, first: bool = False, partition: int = 0
) -> PartitionBatch:
    end = changes[-1].offset + 1 if changes else highwater
    return PartitionBatch(topics.REGISTRY.name, partition, tuple(changes), end, highwater, first)


async def _rows(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch("SELECT code, grid_id FROM mirror_codes")
    return {row[0]: row[1] for row in rows}


def test_replays_skip_and_a_recreated_partition_is_rebuilt(database_url: str) -> None:
    async def run() -> None:
        pool = await create_pool(database_url, max_size=4)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            history = [StateChange(n, f"C{n % 4}", _code(f"C{n % 4}", f"G{n}")) for n in range(8)]
            history.append(StateChange(8, "C0", None))
            whole = _batch(history, 9, first=True)

            async def write(batch: PartitionBatch) -> Written:
                async with pool.acquire() as connection:
                    return await write_batch(connection, CODES, batch)

            # three writers with the same records at once (every worker follows every record):
            # one applies them, the others skip, and none waits on another in a cycle
            results = await asyncio.gather(*(write(whole) for _ in range(3)))
            assert sorted(r.skipped for r in results) == [0, 9, 9]
            async with pool.acquire() as connection:
                assert await _rows(connection) == {"C1": "G5", "C2": "G6", "C3": "G7"}
                other = [StateChange(0, "P1", _code("P1", "G1"))]
                await write_batch(connection, CODES, _batch(other, 1, first=True, partition=1))
                # a first read that sees fewer records than the mirror holds: the broker lost
                # the partition (an embedded broker restarted empty), and its rows go; the
                # other partition's stay
                fresh = [StateChange(0, "C9", _code("C9", "G9"))]
                written = await write_batch(connection, CODES, _batch(fresh, 1, first=True))
                assert written.rebuilt
                assert await _rows(connection) == {"C9": "G9", "P1": "G1"}
                # later batches of the same read are not taken for another recreation
                more = [StateChange(1, "C8", _code("C8", "G8"))]
                assert not (await write_batch(connection, CODES, _batch(more, 2))).rebuilt
                assert await _rows(connection) == {"C8": "G8", "C9": "G9", "P1": "G1"}
        finally:
            await pool.close()

    asyncio.run(run())
