"""Writes the state mirror (civicgrid/domain/statemirror.py) one partition batch at a time.

Each batch is one transaction that first locks its partition's row in `mirror_offsets`: the
writers of a partition (every worker follows every record) take turns, and the one that comes
second finds the records already applied below `next_offset` and skips them. A transaction
touches only its partition's keys, in key order, so two writers never wait on each other in
a cycle. Upserts go through COPY into a temporary table, then one INSERT ... ON CONFLICT that
leaves rows whose values did not change untouched.
"""

import logging
from dataclasses import dataclass

import asyncpg

from civicgrid.domain.statemirror import (
    MirrorSpec,
    NetEffect,
    PartitionBatch,
    net_effect,
    next_offset,
    recreated,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Written:
    upserted: int
    deleted: int
    skipped: int  # records another writer (or an earlier life of this one) already applied
    rebuilt: bool


async def write_batch(
    connection: asyncpg.Connection, spec: MirrorSpec, batch: PartitionBatch
) -> Written:
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO mirror_offsets (topic, partition, next_offset) VALUES ($1, $2, 0) "
            "ON CONFLICT DO NOTHING",
            batch.topic,
            batch.partition,
        )
        stored = int(
            await connection.fetchval(
                "SELECT next_offset FROM mirror_offsets WHERE topic = $1 AND partition = $2 "
                "FOR UPDATE",
                batch.topic,
                batch.partition,
            )
        )
        rebuilt = recreated(stored, batch)
        start = 0 if rebuilt else stored
        if rebuilt:
            await connection.execute(
                f"DELETE FROM {spec.table} WHERE partition = $1", batch.partition
            )
            log.warning(
                "state partition recreated; its mirror is rebuilt",
                extra={"topic": batch.topic, "partition": batch.partition},
            )
        fresh = [change for change in batch.changes if change.offset >= start]
        effect = net_effect(fresh, spec, batch.partition)
        upserted = await _upsert(connection, spec, effect)
        deleted = await _delete(connection, spec, effect)
        new_next = next_offset(start, batch)
        if new_next != stored:
            await connection.execute(
                "UPDATE mirror_offsets SET next_offset = $3, updated_at = now() "
                "WHERE topic = $1 AND partition = $2",
                batch.topic,
                batch.partition,
                new_next,
            )
    return Written(upserted, deleted, len(batch.changes) - len(fresh), rebuilt)


async def _upsert(connection: asyncpg.Connection, spec: MirrorSpec, effect: NetEffect) -> int:
    if not effect.upserts:
        return 0
    columns = (spec.key_column, "partition", *spec.columns)
    staging = f"{spec.table}_in"
    await connection.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {spec.table} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    await connection.copy_records_to_table(staging, records=effect.upserts, columns=columns)
    names = ", ".join(columns)
    status = await connection.execute(
        f"INSERT INTO {spec.table} ({names}) SELECT {names} FROM {staging} "
        f"ORDER BY {spec.key_column} ON CONFLICT ({spec.key_column}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
        + ", updated_at = now() "
        f"WHERE ({', '.join(f'{spec.table}.{c}' for c in columns[1:])}) "
        f"IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in columns[1:])})"
    )
    return int(status.split()[-1])


async def _delete(connection: asyncpg.Connection, spec: MirrorSpec, effect: NetEffect) -> int:
    if not effect.deletes:
        return 0
    status = await connection.execute(
        f"DELETE FROM {spec.table} WHERE {spec.key_column} = ANY($1::text[])", effect.deletes
    )
    return int(status.split()[-1])


async def mirrored_offsets(
    connection: asyncpg.Connection, topic_names: list[str]
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the offset a writer starts reading at."""
    rows = await connection.fetch(
        "SELECT topic, partition, next_offset FROM mirror_offsets WHERE topic = ANY($1)",
        topic_names,
    )
    return {(row[0], row[1]): row[2] for row in rows}
