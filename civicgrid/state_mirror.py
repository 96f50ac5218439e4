"""The worker's writer of the state mirror: the follower hands it each partition batch it
applied to the city view, and it writes them to PostgreSQL in order, off the follower's path.

The queue is bounded, so a slow database slows the follower instead of buffering the
registry in memory; the worker's readiness waits for the city view, not for the mirror (at
Taizhou scale the first load writes a million rows; docs/operations.md has the figures).
"""

import asyncio
import logging
import time
from dataclasses import replace
from functools import partial

import asyncpg

from agents.delivery import fail_stop, with_retry
from civicgrid import metrics
from civicgrid.db.mirror import Written, write_batch
from civicgrid.domain.statemirror import MIRRORS, PartitionBatch, one_by_one
from civicgrid.errors import Disposition, classify

log = logging.getLogger(__name__)

_QUEUED_BATCHES = 8  # of up to 5,000 records each


class StateMirror:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.caught_up = asyncio.Event()
        self._queue: asyncio.Queue[PartitionBatch | None] = asyncio.Queue(_QUEUED_BATCHES)
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    async def offer(self, batch: PartitionBatch) -> None:
        if batch.topic in MIRRORS:
            await self._queue.put(batch)

    async def offer_caught_up(self) -> None:
        """Every partition has been offered to its end: `caught_up` is set once written."""
        await self._queue.put(None)

    def start(self) -> None:
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="state-mirror")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        rows = 0
        while True:
            batch = await self._queue.get()
            if batch is None:
                if not self.caught_up.is_set():
                    log.info(
                        "state mirror loaded",
                        extra={
                            "rows": rows,
                            "seconds": round(time.monotonic() - self._started, 2),
                        },
                    )
                    self.caught_up.set()
                continue
            rows += await self._apply(batch)

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
