"""The worker's writer of the state mirror: it follows the mirrored compacted topics with its
own consumer and writes them to PostgreSQL (civicgrid/db/mirror.py), partition batch by
partition batch.

It starts once the worker is ready, from where the mirror already is (`mirror_offsets`), not
from the beginning: a worker's start pays only for the city view (at Taizhou scale the mirror
of an empty database is a million rows, written after readiness while events flow;
docs/operations.md has the figures), and a restart reads only the records it lacks. Every
worker runs one: they race on the same records by design, and the offsets make the second
writer skip what the first wrote.
"""

import asyncio
import logging
import time
from dataclasses import replace
from functools import partial
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid import metrics
from civicgrid.agents.delivery import fail_stop, with_retry
from civicgrid.db.mirror import Written, mirrored_offsets, write_batch
from civicgrid.domain.privacy import protect_state
from civicgrid.domain.statemirror import MIRRORS, PartitionBatch, StateChange, one_by_one
from civicgrid.errors import Disposition, classify
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.registry_follower import RegistryFollower, _at_end, _partitions, _position
from civicgrid.schemas.limits import DEFAULT_LIMITS, Limits
from civicgrid.schemas.parse import IntakeError, parse_state

log = logging.getLogger(__name__)

_BATCH_RECORDS = 5_000  # per poll, as the follower's


class StateMirror:
    def __init__(self, kafka: KafkaConnection, pool: asyncpg.Pool) -> None:
        self.kafka = kafka
        self.pool = pool
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        # partitions read from the start because the mirror is past their end
        self._recreated: set[TopicPartition] = set()
        self._limits = DEFAULT_LIMITS

    async def start(self, follower: RegistryFollower) -> None:
        """Once `follower` has read the topics to their ends: it knows their high-water marks,
        and the limits it holds records to, so the mirror takes exactly what it took."""
        self._limits = follower.limits
        consumer = AIOKafkaConsumer(
            **self.kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        self._consumer = consumer
        partitions = [
            TopicPartition(topic, number)
            for topic in MIRRORS
            for number in sorted(await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        async with self.pool.acquire() as connection:
            stored = await with_retry(
                "state mirror offsets", partial(mirrored_offsets, connection, list(MIRRORS))
            )
        for tp in partitions:
            at = stored.get((tp.topic, tp.partition), 0)
            highwater = follower.highwater(tp.topic, tp.partition) or 0
            # past the end: the partition was recreated; read it whole, and its first batch
            # (or checkpoint) lets write_batch rebuild it (statemirror.recreated). Only such a
            # batch may: one read from `at` rebuilding (another writer moved the offset past
            # the high-water mark this worker saw) would lose the rows below `at` for good.
            if at > highwater:
                self._recreated.add(tp)
            consumer.seek(tp, 0 if at > highwater else at)
        self._task = asyncio.create_task(self._follow(partitions), name="state-mirror")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        started = time.monotonic()
        seen: set[TopicPartition] = set()
        rows = 0
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=_BATCH_RECORDS)
            for tp, records in batches.items():
                if not records:
                    continue
                changes = [
                    change
                    for record in records
                    if (change := _change(tp.topic, record, self._limits)) is not None
                ]
                end = records[-1].offset + 1
                rows += await self._apply(self._batch(tp, tuple(changes), end, seen))
            if not self.caught_up.is_set() and all(_at_end(consumer, tp) for tp in partitions):
                # a partition with nothing to read still needs its first look (recreated?)
                for tp in partitions:
                    if tp not in seen:
                        await self._apply(self._batch(tp, (), _position(consumer, tp), seen))
                log.info(
                    "state mirror loaded",
                    extra={"rows": rows, "seconds": round(time.monotonic() - started, 2)},
                )
                self.caught_up.set()
            if batches:
                await asyncio.sleep(0)  # Faust's heartbeats share this loop

    def _batch(
        self,
        tp: TopicPartition,
        changes: tuple[StateChange, ...],
        end: int,
        seen: set[TopicPartition],
    ) -> PartitionBatch:
        assert self._consumer is not None
        first = tp in self._recreated and tp not in seen
        seen.add(tp)
        highwater = self._consumer.highwater(tp) or end
        return PartitionBatch(tp.topic, tp.partition, changes, end, highwater, first)

    async def _apply(self, batch: PartitionBatch) -> int:
        """Write the batch, waiting out the database; a record PostgreSQL refuses (a NUL in
        an attribute: jsonb has no place for it) is left out, found by writing the batch
        one record at a time. Any other failure is a bug or a schema out of step: skipping
        would leave the mirror silently wrong, so the worker stops."""
        try:
            written = await with_retry("state mirror batch", partial(self._write, batch))
        except Exception as error:
            if classify(error) is not Disposition.DEAD_LETTER:
                fail_stop("state mirror")
            if len(batch.changes) > 1:
                return sum([await self._apply(single) for single in one_by_one(batch)])
            log.warning(
                "state record not mirrored",
                extra={
                    "topic": batch.topic,
                    "partition": batch.partition,
                    "offset": batch.changes[0].offset,
                    "error": type(error).__name__,
                },
            )
            metrics.MIRROR_ROWS.labels(topic=batch.topic, op="refused").inc()
            return await self._apply(replace(batch, changes=()))
        metrics.MIRROR_ROWS.labels(topic=batch.topic, op="upsert").inc(written.upserted)
        metrics.MIRROR_ROWS.labels(topic=batch.topic, op="delete").inc(written.deleted)
        return written.upserted + written.deleted

    async def _write(self, batch: PartitionBatch) -> Written:
        async with self.pool.acquire() as connection:
            return await write_batch(connection, MIRRORS[batch.topic], batch)


def _change(topic: str, record: Any, limits: Limits) -> StateChange | None:
    """The record as the follower takes it; one it rejects (a dead letter) is passed over."""
    try:
        key, state = parse_state(topic, record.key, record.value, limits)
    except IntakeError:
        return None
    return StateChange(record.offset, key, protect_state(state))
