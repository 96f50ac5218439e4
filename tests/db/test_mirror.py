"""The state mirror's write path against a real PostgreSQL: repeated and overlapping batches,
writers racing on one partition, and a partition recreated on the broker."""

import asyncio

import asyncpg
import orjson

from civicgrid.db.migrate import migrate
from civicgrid.db.mirror import Written, write_batch
from civicgrid.db.pool import create_pool
from civicgrid.domain.statemirror import ACTORS, CODES, PartitionBatch, StateChange
from civicgrid.schemas.inbound import ActorRecord, RegistryRecord
from civicgrid.topics import catalogue as topics


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


def test_the_actor_roster_is_mirrored_and_a_tombstone_removes_the_actor(
    database_url: str,
) -> None:
    def actor(value: dict[str, object]) -> ActorRecord:
        return ActorRecord.model_validate_json(orjson.dumps(value))

    operator = actor(
        {
            "actor_id": "OP-1",
            "kind": "operator",
            "name": "值班长 13812345678",
            "rung": "street",
            "street": "城东街道",
            "district": "海陵区",
        }
    )
    worker = actor({"actor_id": "W-1", "kind": "grid_worker", "grids": ["G1", "G2"]})
    department = actor({"actor_id": "D-1", "kind": "department", "departments": ["drainage"]})
    changes = [
        StateChange(0, "OP-1", operator),
        StateChange(1, "W-1", worker),
        StateChange(2, "D-1", department),
        StateChange(3, "D-1", None),
    ]

    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(database_url)
        try:
            await migrate(connection)
            batch = PartitionBatch(topics.ACTORS.name, 0, tuple(changes), 4, 4, True)
            await write_batch(connection, ACTORS, batch)
            return await connection.fetch(
                "SELECT actor_id, kind, name, rung, grids, street, district, departments "
                "FROM mirror_actors ORDER BY actor_id"
            )
        finally:
            await connection.close()

    rows = [tuple(row) for row in asyncio.run(run())]
    assert rows == [
        ("OP-1", "operator", "值班长 138****5678", "street", [], "城东街道", "海陵区", []),
        ("W-1", "grid_worker", None, None, ["G1", "G2"], None, None, []),
    ]
