"""The offered load: the demo city's simulated events, encoded once, published flat out or
at a fixed rate. Encoding happens before the clock starts so the publisher is not the limit."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

from civicgrid.kafka_clients import producer as kafka_producer
from tools.city.model import City
from tools.city.simulate import CitySimulator


@dataclass(frozen=True, slots=True)
class Record:
    offset_s: float
    topic: str
    key: bytes | None
    value: bytes
    event_id: str


def simulated(
    city: City,
    rate: float,
    duration_s: float,
    seed: int,
    topics: Sequence[str] | None = None,
) -> list[Record]:
    """About rate x duration events of the city's mix (resends included, as in life); only
    `topics` when given (the baselines read reports alone). Each phase of a run takes its
    own seed: the same seed would repeat event ids, which the pipeline drops as duplicates."""
    simulator = CitySimulator(city, seed, datetime.now(UTC))
    return [
        Record(
            event.offset_s,
            event.topic,
            None if event.key is None else event.key.encode(),
            orjson.dumps(event.value),
            str(event.value["event_id"]),
        )
        for event in simulator.events(rate, duration_s)
        if topics is None or event.topic in topics
    ]


def producer(bootstrap: str, linger_ms: int) -> AIOKafkaProducer:
    return kafka_producer(bootstrap, linger_ms=linger_ms)


async def publish_flat_out(
    bootstrap: str, records: Sequence[Record], topic: str | None = None
) -> float:
    """Publish as fast as the producer takes them; return the wall time of the first send."""
    kafka = producer(bootstrap, linger_ms=20)
    await kafka.start()
    try:
        started = time.time()
        pending = []
        for record in records:
            pending.append(await kafka.send(topic or record.topic, record.value, key=record.key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await kafka.stop()
    return started


async def publish_paced(bootstrap: str, records: Sequence[Record]) -> float:
    """Publish each record at its offset from the start (the simulator's Poisson arrivals);
    a short linger keeps the producer from adding its own batching delay to the latency."""
    kafka = producer(bootstrap, linger_ms=1)
    await kafka.start()
    loop = asyncio.get_running_loop()
    try:
        started, t0 = time.time(), loop.time()
        for record in records:
            wait = record.offset_s - (loop.time() - t0)
            if wait > 0.001:
                await asyncio.sleep(wait)
            await kafka.send(record.topic, record.value, key=record.key)
        await kafka.flush()
    finally:
        await kafka.stop()
    return started
