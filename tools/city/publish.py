"""The thin I/O around the pure city: publish it, and play the simulation against Kafka."""

import asyncio
import heapq
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import Brokers, connection
from civicgrid.topics import catalogue as topics
from tools.city.departments import DepartmentModel
from tools.city.model import City
from tools.city.progress import Progress
from tools.city.roster import actor_records
from tools.city.simulate import CitySimulator

log = logging.getLogger(__name__)

DISPATCH_TOPICS = (topics.DISPATCH_GRID.name, topics.DISPATCH_NETWORK.name)
DEPARTMENTS_GROUP = "civicgrid-sim-departments"
_ACK_CHUNK = 10_000  # sends in flight before waiting for their acks
_IDLE_S = 0.05  # longest sleep, so updates scheduled meanwhile are not sent late


@dataclass
class SimulationStats:
    sent: Counter[str] = field(default_factory=Counter)
    """Events sent per topic, case updates included."""
    dispatches: int = 0
    bad_dispatches: int = 0
    updates_not_due: int = 0
    """Case updates planned for after the end of the run, so never sent."""
    send_errors: int = 0


def _producer(bootstrap: Brokers) -> AIOKafkaProducer:
    return kafka_producer(
        bootstrap,
        key_serializer=lambda k: None if k is None else k.encode(),
        value_serializer=orjson.dumps,
    )


def city_records(city: City) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(topic, key, value): grids first, so a code's grid is known before the code arrives;
    then the actor roster, without which every case update would be refused."""
    for grid in city.grids:
        yield topics.GRIDS.name, grid.grid_id, grid.to_grid_record()
    for actor in actor_records(city):
        yield topics.ACTORS.name, actor["actor_id"], actor
    for code in city.iter_codes():
        yield topics.REGISTRY.name, code.code, code.to_registry_record()


async def publish_city(bootstrap: Brokers, city: City, progress: bool = True) -> int:
    """Publish every grid and code; returns the number of records acknowledged."""
    actors = sum(1 for _ in actor_records(city))
    bar = Progress("city", len(city.grids) + actors + city.code_total) if progress else None
    producer = _producer(bootstrap)
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for topic, key, value in city_records(city):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= _ACK_CHUNK:
                sent += await _acked(pending, bar)
        sent += await _acked(pending, bar)
    finally:
        await producer.stop()
        if bar:
            bar.close()
    return sent


async def _acked(pending: list[asyncio.Future[Any]], bar: Progress | None) -> int:
    await asyncio.gather(*pending)
    n = len(pending)
    pending.clear()
    if bar:
        bar.advance(n)
    return n


async def run_simulation(
    bootstrap: Brokers,
    simulator: CitySimulator,
    rate: float,
    duration_s: float,
    departments: bool = True,
    progress: bool = True,
) -> SimulationStats:
    """Send the simulator's events in real time, and answer dispatches while it runs."""
    stats = SimulationStats()
    bar = Progress("simulate") if progress else None
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    updates: list[tuple[float, int, dict[str, Any]]] = []  # heap of (due offset, seq, value)
    producer = _producer(bootstrap)
    await producer.start()
    answering = (
        asyncio.create_task(_answer(bootstrap, simulator, t0, duration_s, updates, stats))
        if departments
        else None
    )

    async def send(topic: str, key: str | None, value: dict[str, Any]) -> None:
        # Waits only while the producer's buffer is full: that is the backpressure.
        future = await producer.send(topic, value, key=key)
        future.add_done_callback(lambda f: _count_error(f, stats))
        stats.sent[topic] += 1
        if bar:
            bar.advance()

    try:
        events = simulator.events(rate, duration_s)
        upcoming = next(events, None)
        while (now := loop.time() - t0) < duration_s:
            event_due = upcoming.offset_s if upcoming else duration_s
            update_due = updates[0][0] if updates else duration_s
            if min(event_due, update_due) > now:
                await asyncio.sleep(min(event_due - now, update_due - now, _IDLE_S))
            elif upcoming and event_due <= update_due:
                await send(upcoming.topic, upcoming.key, upcoming.value)
                upcoming = next(events, None)
            else:
                _, _, value = heapq.heappop(updates)
                await send(topics.CASE_UPDATES.name, str(value["case_id"]), value)
        await producer.flush()
    finally:
        if answering:
            answering.cancel()
            await asyncio.gather(answering, return_exceptions=True)
        await producer.stop()
        if bar:
            bar.close()
    stats.updates_not_due += len(updates)
    return stats


async def _answer(
    bootstrap: Brokers,
    simulator: CitySimulator,
    t0: float,
    duration_s: float,
    updates: list[tuple[float, int, dict[str, Any]]],
    stats: SimulationStats,
) -> None:
    """Consume dispatches and schedule the department model's updates in real time."""
    model = DepartmentModel(simulator.seed)
    loop = asyncio.get_running_loop()
    consumer = AIOKafkaConsumer(
        *DISPATCH_TOPICS,
        **connection(bootstrap).client_options(),
        group_id=DEPARTMENTS_GROUP,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    seq = 0
    try:
        async for message in consumer:
            now = loop.time() - t0
            try:
                dispatch = orjson.loads(message.value or b"")
                planned = model.respond(dispatch, simulator.sim_time(now))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                stats.bad_dispatches += 1
                log.warning(
                    "dispatch at %s/%s not understood: %s", message.topic, message.offset, error
                )
                continue
            stats.dispatches += 1
            for delay_s, value in planned:
                due = now + delay_s / simulator.acceleration
                if due < duration_s:
                    seq += 1
                    heapq.heappush(updates, (due, seq, value))
                else:
                    stats.updates_not_due += 1
    finally:
        await consumer.stop()


def _count_error(future: "asyncio.Future[Any]", stats: SimulationStats) -> None:
    if not future.cancelled() and future.exception() is not None:
        stats.send_errors += 1
        log.warning("send failed: %s", future.exception())
