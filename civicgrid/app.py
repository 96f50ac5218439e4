"""The Faust app, configured for the ground it runs on (../shared/GROUND.md)."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.services import WaitResults

from civicgrid.kafka_connection import KafkaConnection
from civicgrid.settings import Settings

# The consumer hands each fetched record to the streams with
# `wait_first(on_message(record), suspend_flow.wait())`.
_SUSPEND_WAIT = asyncio.Event.wait.__code__


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust hard-codes a 1,500 ms fetch wait; Tansu answers a waiting fetch only when the
    wait runs out, so that figure became our latency. The wait is the app's setting here."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 10)
        return consumer


@dataclass(frozen=True, slots=True)
class FetchedRecords:
    """The records of one partition from one fetch, handed to the streams as one record.

    Shaped like aiokafka's `ConsumerRecord` where Faust reads one (`_to_message`): the
    offset is the last record's, so acking this one record acks the fetch; `value` holds the
    fetched `ConsumerRecord`s in order.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    value: Sequence[Any]
    timestamp_type: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()
    key: None = None
    checksum: None = None
    serialized_key_size: int = 0
    serialized_value_size: int = 0

    @classmethod
    def of(cls, records: Sequence[Any]) -> "FetchedRecords":
        last = records[-1]
        return cls(last.topic, last.partition, last.offset, last.timestamp, tuple(records))


class _Consumer(aiokafka_driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        """Hand each fetch of a batched topic's partition over as one `FetchedRecords`.

        Faust's receive path costs tens of microseconds per record (message, event, queue,
        stream, ack; docs/performance.md): for a stage that works in batches anyway that is
        pure overhead. Offsets stay Faust's: the fetched offsets before the last are
        registered as a gap, the same bookkeeping Faust does for offsets a fetch skips, so
        acking the one record commits them all and nothing commits before it is acked.
        Faust's drain loop gaps the offsets between two reads itself, but not before the
        first read after an assignment, where it leans on a tolerance of one offset when
        committing; the explicit gap makes every fetch exact.
        """
        records, active = await super()._wait_next_records(timeout)
        batched: frozenset[str] = getattr(self.app, "batched_topics", frozenset())
        if not records or not batched:
            return records, active
        handed: dict[Any, list[Any]] = {}
        for tp, fetched in records.items():
            if tp.topic in batched and fetched:
                if len(fetched) > 1 and self.app.topics.acks_enabled_for(tp.topic):
                    await self._add_gap(tp, fetched[0].offset, fetched[-1].offset - 1)
                handed[tp] = [FetchedRecords.of(fetched)]
            else:
                handed[tp] = fetched
        return handed, active

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109
        """Hand a record to the streams directly when the hand-off cannot block.

        Faust races every record's hand-off against `suspend_flow` (and the service's stop
        and crash), four tasks per record, so that a rebalance can interrupt a hand-off
        blocked on a full stream buffer. A hand-off blocks only while flow control is
        suspended, the producer buffer is over its limit or a stream buffer is full; when
        none holds it runs to completion without yielding, so there is nothing to race and
        the tasks are pure cost (GROUND.md measured 9.2 k -> 14.5 k ev/s for one agent).
        Any other case takes Faust's own path, unchanged.
        """
        if len(coros) == 2 and getattr(coros[1], "cr_code", None) is _SUSPEND_WAIT:
            hand_off, suspended = coros
            if self._hand_off_cannot_block():
                suspended.close()
                return WaitResults([hand_off], [await hand_off], False)
        return await super().wait_first(*coros, timeout=timeout)

    def _hand_off_cannot_block(self) -> bool:
        app = self.app
        buffer = app.producer.buffer
        return (
            not self.suspend_flow.is_set()
            and app.flow_control.is_active()
            and buffer.size <= buffer.max_messages
            and not any(channel.queue.full() for channel in app.topics)
        )


class _Transport(aiokafka_driver.Transport):
    Consumer = _Consumer


class CivicApp(faust.App):
    fetch_max_wait_ms: int
    # topics whose streams receive one `FetchedRecords` per partition and fetch
    batched_topics: frozenset[str] = frozenset()

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


# Tansu joins a group in half the session timeout and rejoins in ~1.8x it
# (../shared/GROUND.md), so on it the timeouts are short; elsewhere they are Faust's.
_TANSU_CONSUMER: dict[str, Any] = {
    "broker_session_timeout": 6,
    "broker_heartbeat_interval": 1,
    "broker_rebalance_timeout": 6,
    "broker_request_timeout": 30,
}
# Tansu answers a waiting fetch only when the wait runs out; Kafka answers when data comes.
_FETCH_WAIT_MS = {True: 10, False: 500}
_NO_TUNING: dict[str, Any] = {}


def create_app(settings: Settings, kafka: KafkaConnection) -> CivicApp:
    app = CivicApp(
        settings.app_id,
        **kafka.faust_options(),
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        **(_TANSU_CONSUMER if kafka.tansu else _NO_TUNING),
        broker_max_poll_records=5000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_max_batch_size=262144,
        # every output topic is written with acks from all in-sync replicas
        producer_acks=-1,
        # a record over it is refused by the client before it is sent (issue 16, item 2)
        producer_max_request_size=settings.producer_max_request_bytes,
        stream_buffer_maxsize=16384,
        stream_wait_empty=False,
        table_standby_replicas=0,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_in_thread=False,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms or _FETCH_WAIT_MS[kafka.tansu]
    return app
