"""Driving case lifecycles through a running worker: reports, updates and SLA ticks with a
clock the test chooses, each waited on in PostgreSQL before the next is sent."""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from civicgrid.domain.timers import tick_messages
from civicgrid.kafka_connection import connection
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, fetchval
from tests.support.kafka import publish
from tools.city.roster import CITY_OPERATOR, department_actor

TAIZHOU = timezone(timedelta(hours=8))
STREET_LIGHT_OUT = "路灯晚上不亮了"  # a small matter: P3, one owner
COVER_MISSING = "小区门口的窨井盖不见了，很危险"  # P1: straight to the network


async def _poll(url: str, sql: str, *args: Any, wait_s: float = 30.0) -> Any:
    """The first non-null value of `sql`; fails the test when none comes in time."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        value = await fetchval(url, sql, *args)
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"no value within {wait_s} s for {sql} {args}")


@dataclass
class Driver:
    bootstrap: str
    url: str

    def __post_init__(self) -> None:
        # updates get strictly increasing times, so a case's history reads in their order
        self._clock = datetime.now(TAIZHOU)

    def _now(self) -> datetime:
        self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(TAIZHOU))
        return self._clock

    async def report(
        self, code: str | None, description: str, reporter: str = "R-1", **fields: Any
    ) -> tuple[str, dict[str, Any]]:
        """Publish a report (with any further `fields`: a report without a code needs its
        `grid_id`); return its case id and the report (to publish again)."""
        value = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": self._now().isoformat(),
            "schema_version": 1,
            "channel": "scan",
            "description": description,
            "reporter_id": reporter,
            "reporter_role": "resident",
            "code": code,
            **fields,
        }
        await publish(self.bootstrap, [(topics.REPORTS.name, code or value["grid_id"], value)])
        case_id = await _poll(
            self.url, "SELECT case_id FROM events WHERE event_id = $1::uuid", value["event_id"]
        )
        return str(case_id), value

    async def update(
        self,
        case_id: str,
        action: str,
        actor_kind: str,
        note: str | None = None,
        actor_id: str | None = None,
        supervision: str | None = None,
        **fields: Any,
    ) -> str:
        """Publish an update and wait until the stage has taken it (applied or refused).

        Without `actor_id` the actor is one the simulated city's roster authorises for the
        case (tools/city/roster.py): the grid's first worker, the case's lead department,
        the city's operator, or the resident who reported it (the default reporter); `fields`
        are further fields of the update (a reclassify's category)."""
        event_id = str(uuid.uuid4())
        value = {
            "event_id": event_id,
            "occurred_at": self._now().isoformat(),
            "schema_version": 1,
            "case_id": case_id,
            "actor_id": actor_id or await self._actor(case_id, actor_kind),
            "actor_kind": actor_kind,
            "action": action,
            **({"note": note} if note else {}),
            **({"supervision": supervision} if supervision else {}),
            **fields,
        }
        await publish(self.bootstrap, [(topics.CASE_UPDATES.name, case_id, value)])
        await _poll(self.url, "SELECT kind FROM events WHERE event_id = $1::uuid", event_id)
        return event_id

    async def _actor(self, case_id: str, actor_kind: str) -> str:
        if actor_kind == "grid_worker":
            return f"W-{case_id.rpartition('~')[0]}-1"
        if actor_kind == "operator":
            return CITY_OPERATOR
        if actor_kind == "resident":
            return "R-1"
        lead = await fetchval(
            self.url, "SELECT data->'departments'->>0 FROM cases WHERE case_id = $1", case_id
        )
        return department_actor(lead or "unknown")

    async def tick(self, grid_id: str, now: datetime, barrier: dict[str, Any]) -> None:
        """Send the grid a tick at `now`, then wait until the stage is past it.

        The barrier is a report of the same grid published again: the intake puts it on the
        grid's partition after the tick, so once its re-delivery is recorded the tick (which
        leaves no row when nothing is due) has been applied in an earlier or the same batch."""
        message = tick_messages([grid_id], now)[0]
        await publish(self.bootstrap, [(message.topic, message.key, message.value)])
        await self.redeliver(barrier)

    async def redeliver(self, report: dict[str, Any]) -> None:
        count_sql = "SELECT count(*) FROM duplicate_deliveries WHERE event_id = $1::uuid"
        before = await fetchval(self.url, count_sql, report["event_id"])
        await publish(self.bootstrap, [(topics.REPORTS.name, report["code"], report)])
        await _poll(
            self.url,
            f"SELECT 1 WHERE ({count_sql}) > $2",
            report["event_id"],
            before,
        )

    async def case(self, case_id: str) -> dict[str, Any]:
        """The case row, its jsonb `data` decoded (a bare connection returns it as text)."""
        rows = await fetch(self.url, "SELECT * FROM cases WHERE case_id = $1", case_id)
        assert rows, f"no case {case_id}"
        return {**dict(rows[0]), "data": orjson.loads(rows[0]["data"])}

    async def states(self, case_id: str) -> list[str]:
        rows = await fetch(
            self.url,
            "SELECT state FROM case_history WHERE case_id = $1 ORDER BY version",
            case_id,
        )
        return [row[0] for row in rows]


async def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record on `topic` up to its current end: the stage has its outputs acked before
    it commits, so once Postgres shows an effect its messages are all there."""
    consumer = AIOKafkaConsumer(
        **connection(bootstrap).client_options(), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            await consumer.topics()  # refresh metadata once: a fresh consumer may not have it
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(orjson.loads(r.value or b"null") for r in records)
        return found
    finally:
        await consumer.stop()
