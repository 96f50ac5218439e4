"""Topic administration from the catalogue: create what is missing, list what exists."""

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from civicgrid.kafka_connection import KafkaConnection
from civicgrid.topics.catalogue import CATALOGUE, TopicSpec

log = logging.getLogger(__name__)


def _configs(spec: TopicSpec, kafka: KafkaConnection) -> dict[str, str]:
    configs = {
        "cleanup.policy": "compact" if spec.compacted else "delete",
        # with the producers' acks=all, a write is acknowledged once this many replicas hold it
        "min.insync.replicas": str(kafka.min_insync_replicas),
    }
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    return configs


async def _admin(kafka: KafkaConnection, wait_s: float) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=10_000)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise ConnectionError(f"Kafka broker {kafka} unreachable") from None
            await asyncio.sleep(0.5)


async def create_topics(kafka: KafkaConnection, partitions: int, wait_s: float = 30.0) -> list[str]:
    """Create the catalogue's missing topics, replicated as `kafka` says; return the names
    created. Existing topics are left as they are (`civicgrid topics` lists them)."""
    admin = await _admin(kafka, wait_s)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                spec.name,
                spec.partitions or partitions,
                kafka.replication_factor,
                topic_configs=_configs(spec, kafka),
            )
            for spec in CATALOGUE
            if spec.name not in existing
        ]
        created = []
        for topic in wanted:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another worker created it first
        if created:
            log.info(
                "topics created",
                extra={
                    "topics": created,
                    "replication_factor": kafka.replication_factor,
                    "min_insync_replicas": kafka.min_insync_replicas,
                },
            )
        return created
    finally:
        await admin.close()


@dataclass(frozen=True)
class TopicStatus:
    name: str
    partitions: int
    messages: int  # sum of fetch high-water marks (Tansu's ListOffsets is wrong)
    direction: str
    compacted: bool


async def topic_status(kafka: KafkaConnection) -> list[TopicStatus]:
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        found = await consumer.topics()
        # Every topic's partitions before any assign(): an assignment narrows the consumer's
        # metadata to the assigned topics, after which the others have no partitions.
        parts = {
            spec.name: [
                TopicPartition(spec.name, p) for p in consumer.partitions_for_topic(spec.name) or ()
            ]
            for spec in CATALOGUE
            if spec.name in found
        }
        every = [tp for topic_parts in parts.values() for tp in topic_parts]
        marks = dict(zip(every, await _highwater(consumer, every), strict=True)) if every else {}
        return [
            TopicStatus(
                spec.name,
                len(parts.get(spec.name, ())),
                sum(marks[tp] for tp in parts.get(spec.name, ())),
                spec.direction,
                spec.compacted,
            )
            for spec in CATALOGUE
        ]
    finally:
        await consumer.stop()


async def _highwater(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> list[int]:
    """High-water marks as fetch responses report them: assign, fetch once, read."""
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    for _ in range(20):
        await consumer.getmany(timeout_ms=100, max_records=1)
        marks = [consumer.highwater(tp) for tp in parts]
        if all(mark is not None for mark in marks):
            return [int(mark) for mark in marks if mark is not None]
    return [int(consumer.highwater(tp) or 0) for tp in parts]
