"""Follows the compacted state topics (registry, grids, actors) into the worker's CityView.

Every worker reads these topics whole (they are the city's reference data, needed by any
partition), from the beginning at start, then keeps following them so updates and
tombstones take effect while the pipeline runs. "Caught up" is judged by the high-water
mark of fetch responses: Tansu's ListOffsets answer is wrong (../shared/GROUND.md).

No record can stop it: each is validated at the edge (`schemas.parse.parse_state`: key,
schema, the deployment's limits) and one that fails, or that its topic's applier refuses,
becomes a dead-letter envelope in `rejected`, which `agents/state_letters.py` writes to
`dead_letters` and civic.deadletter.v1. A failure of the follower itself (the broker) is
logged, makes the worker not ready, and is retried; a keyless tombstone once ended the task
silently and left the worker serving with a city view that no longer moved.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid import metrics
from civicgrid.domain.cityview import CityView
from civicgrid.domain.privacy import protect_state
from civicgrid.domain.routing import RawRecord, dead_letter, published_at
from civicgrid.errors import classify
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.schemas.limits import DEFAULT_LIMITS, Limits
from civicgrid.schemas.parse import IntakeError, parse_state
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)

_BATCH_RECORDS = 5_000  # per poll: the loop is not held for long while catching up
# Dead letters waiting to be written; past this the follower waits for them (PostgreSQL is
# down): a stream of bad records must not grow the worker without bound.
MAX_PENDING_LETTERS = 10_000
_RETRY_FIRST_S, _RETRY_MAX_S = 0.5, 15.0

# What the follower does with a validated record of a topic: (key, record or None for a
# tombstone). Raising refuses the record: it becomes a dead letter.
Applier = Callable[[str, Any], None]


def city_appliers(city: CityView) -> dict[str, Applier]:
    return {
        topics.REGISTRY.name: city.apply_code,
        topics.GRIDS.name: city.apply_grid,
        topics.ACTORS.name: city.apply_actor,
    }


class RegistryFollower:
    def __init__(
        self,
        kafka: KafkaConnection,
        appliers: Mapping[str, Applier],
        limits: Limits = DEFAULT_LIMITS,
        describe: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self.kafka = kafka
        self.appliers = dict(appliers)
        self.limits = limits
        self.describe = describe  # what "loaded" logs, e.g. the city's grid and code counts
        self.caught_up = asyncio.Event()
        self.healthy = True  # False from a failure of the follower until it reads again
        self.rejected: list[GridEnvelope] = []
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        partitions = []
        for topic in sorted(self.appliers):
            for number in sorted(await _partitions(consumer, topic)):
                partitions.append(TopicPartition(topic, number))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(partitions), name="registry-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's high-water mark from the last fetch (right, unlike ListOffsets)."""
        assert self._consumer is not None
        found = self._consumer.highwater(TopicPartition(topic, partition))
        return None if found is None else int(found)

    def take_rejected(self, count: int) -> None:
        """The first `count` dead letters are written: drop them, make room for more."""
        del self.rejected[:count]
        if len(self.rejected) < MAX_PENDING_LETTERS:
            self._room.set()

    async def _follow(self, partitions: list[TopicPartition]) -> None:
        delay = _RETRY_FIRST_S
        applied = 0
        while True:
            try:
                applied += await self._poll(partitions, applied)
            except Exception as error:
                # Records cannot fail here (`_apply` contains them); what does is the broker
                # or the code. Either way the worker is out of service until reading works
                # again, and says so: a broken follower must not leave a stale city serving.
                self.healthy = False
                metrics.REGISTRY_FAILURES.inc()
                extra = {"delay_s": delay, "disposition": classify(error).value}
                log.exception("registry follower failed; retrying", extra=extra)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            if not self.healthy:
                log.warning("registry follower reads again")
                self.healthy = True
            delay = _RETRY_FIRST_S

    async def _poll(self, partitions: list[TopicPartition], applied: int) -> int:
        assert self._consumer is not None
        consumer = self._consumer
        batches = await consumer.getmany(timeout_ms=200, max_records=_BATCH_RECORDS)
        count = 0
        for tp, records in batches.items():
            for record in records:
                await self._room.wait()
                self._apply(tp, record)
            # Counted once the batch is applied: an event consumed after the count moved
            # sees the update (what the live-registry tests and operators wait on).
            metrics.REGISTRY_RECORDS.labels(topic=tp.topic).inc(len(records))
            count += len(records)
        if not self.caught_up.is_set() and all(_at_end(consumer, tp) for tp in partitions):
            log.info("registry loaded", extra={**self.describe(), "records": applied + count})
            self.caught_up.set()
        if batches:
            # A full batch takes ~0.1 s to parse; Faust's heartbeats share this loop.
            await asyncio.sleep(0)
        return count

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        """Apply one record; a refused one is a dead letter and changes nothing."""
        try:
            key, state = parse_state(tp.topic, record.key, record.value, self.limits)
            self.appliers[tp.topic](key, protect_state(state))
        except IntakeError as error:
            self._reject(tp, record, error.kind, error.message)
        except Exception as error:  # a bug must cost one dead letter, not the city view
            log.exception("state record failed", extra={"topic": tp.topic, "offset": record.offset})
            self._reject(tp, record, DeadLetterKind.PROCESSING_ERROR, f"registry: {error!r}")

    def _reject(self, tp: TopicPartition, record: Any, kind: DeadLetterKind, message: str) -> None:
        raw = RawRecord(
            tp.topic,
            tp.partition,
            record.offset,
            published_at(record.timestamp),
            record.key,
            record.value,
            (),
        )
        self.rejected.append(dead_letter(raw, kind, message))
        log.warning(
            "state record rejected",
            extra={"topic": tp.topic, "offset": record.offset, "kind": kind.value},
        )
        if len(self.rejected) >= MAX_PENDING_LETTERS:
            self._room.clear()


def _at_end(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    highwater = consumer.highwater(tp)
    return highwater is not None and _position(consumer, tp) >= highwater


def _position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    state = consumer._subscription.subscription.assignment.state_value(tp)
    return int(state.position) if state is not None and state.has_valid_position else 0


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions; run `civicgrid topics create`")
