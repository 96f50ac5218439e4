"""Follows the compacted registry, grid and actor topics into the worker's CityView.

Every worker reads both topics whole (they are the city's reference data, needed by any
partition), from the beginning at start, then keeps following them so updates and
tombstones take effect while the pipeline runs. "Caught up" is judged by the high-water
mark of fetch responses: Tansu's ListOffsets answer is wrong (../shared/GROUND.md).
"""

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid import metrics
from civicgrid.domain.cityview import CityView
from schemas.inbound import ActorRecord, GridRecord, RegistryRecord
from schemas.parse import IntakeError, parse_state
from topics import catalogue as topics

log = logging.getLogger(__name__)

_BATCH_RECORDS = 5_000  # per poll: the loop is not held for long while catching up


class RegistryFollower:
    def __init__(self, bootstrap: str, city: CityView) -> None:
        self.bootstrap = bootstrap
        self.city = city
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        partitions = []
        for spec in topics.state_topics():
            for number in sorted(await _partitions(consumer, spec.name)):
                partitions.append(TopicPartition(spec.name, number))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(partitions), name="registry-follower")

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's high-water mark from the last fetch (right, unlike ListOffsets)."""
        assert self._consumer is not None
        found = self._consumer.highwater(TopicPartition(topic, partition))
        return None if found is None else int(found)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        applied = 0
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=_BATCH_RECORDS)
            for tp, records in batches.items():
                for record in records:
                    self._apply(tp.topic, record.key, record.value, record.offset)
                # Counted once the batch is applied: an event consumed after the count moved
                # sees the update (what the live-registry tests and operators wait on).
                metrics.REGISTRY_RECORDS.labels(topic=tp.topic).inc(len(records))
                applied += len(records)
            if not self.caught_up.is_set() and all(_at_end(consumer, tp) for tp in partitions):
                grids, codes = self.city.grid_counts()
                log.info(
                    "registry loaded",
                    extra={
                        "grids": grids,
                        "codes": codes,
                        "actors": len(self.city.actors),
                        "records": applied,
                    },
                )
                self.caught_up.set()
            if batches:
                # A full batch takes ~0.1 s to parse; Faust's heartbeats share this loop.
                await asyncio.sleep(0)

    def _apply(self, topic: str, key: bytes | None, value: bytes | None, offset: int) -> None:
        try:
            record = parse_state(topic, key, value)
        except IntakeError as error:
            metrics.DEAD_LETTERS.labels(topic=topic, kind=error.kind.value).inc()
            log.warning(
                "state record rejected",
                extra={"topic": topic, "offset": offset, "kind": error.kind.value},
            )
            return
        assert key is not None  # parse_state refuses a keyless record
        name = key.decode()
        if topic == topics.REGISTRY.name:
            assert record is None or isinstance(record, RegistryRecord)
            self.city.apply_code(name, record)
        elif topic == topics.ACTORS.name:
            assert record is None or isinstance(record, ActorRecord)
            self.city.apply_actor(name, record)
        else:
            assert record is None or isinstance(record, GridRecord)
            self.city.apply_grid(name, record)


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
