"""The demo: a small simulated city end to end through a real worker process, then a summary
checked against PostgreSQL: every published offset must be accounted for."""

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from civicgrid.console.roster import publish_roster_entry
from civicgrid.console.scope import Operator, Role
from civicgrid.console.session import hash_password
from civicgrid.db.console import add_operator
from civicgrid.db.public import create_api_key
from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.domain.privacy import KeyedHasher, case_link_secret
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.topics import catalogue as topics
from tools.city.departments import DepartmentModel
from tools.city.generate import generate_city
from tools.city.progress import Progress
from tools.city.simulate import CitySimulator
from tools.workerproc import ApiProcess

_TAIZHOU = timezone(timedelta(hours=8))
_MALFORMED: tuple[tuple[str, bytes | None, bytes], ...] = (
    (topics.REPORTS.name, b"TZ-x", b"{not json"),
    (topics.REPORTS.name, b"TZ-x", b"\xff\xfe invalid utf-8"),
    (topics.SCANS.name, b"TZ-x", b'{"event_id": "not-a-uuid"}'),
    (topics.PATROLS.name, None, b"[]"),
    (topics.CASE_UPDATES.name, b"no-such-case", b'{"schema_version": 9}'),
)


@dataclass
class DemoRun:
    published: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


def working_morning(now: datetime) -> datetime:
    """The latest weekday 09:00 in Taizhou before `now`: grid workers are on duty then, so
    the demo shows their patrols and reports, not only residents at night."""
    morning = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if morning > now:
        morning -= timedelta(days=1)
    while morning.weekday() >= 5:
        morning -= timedelta(days=1)
    return morning


def demo_day(now: datetime) -> date:
    """The day the demo's events happen on, in the city's zone."""
    return working_morning(now.astimezone(_TAIZHOU)).date()


async def publish_events(kafka: KafkaConnection, events: int, seed: int, run: DemoRun) -> None:
    city = generate_city("demo", seed)
    simulator = CitySimulator(city, seed, working_morning(datetime.now(_TAIZHOU)), 60.0)
    producer = kafka_producer(kafka)
    await producer.start()
    bar = Progress("events", events + len(_MALFORMED))
    try:
        futures = []
        for event in simulator.events(rate=events / 60, duration_s=60):
            if sum(run.published.values()) >= events:
                break
            key = None if event.key is None else event.key.encode()
            futures.append(await producer.send(event.topic, orjson.dumps(event.value), key=key))
            run.published[event.topic] += 1
            bar.advance()
        for topic, key, value in _MALFORMED:
            futures.append(await producer.send(topic, value, key=key))
            run.published[topic] += 1
            bar.advance()
        await asyncio.gather(*futures)
    finally:
        bar.close()
        await producer.stop()


async def answer_dispatches(kafka: KafkaConnection, seed: int, run: DemoRun, limit: int) -> int:
    """Departments and grid workers act on the dispatches (delays compressed to nothing)."""
    model = DepartmentModel(seed)
    consumer = AIOKafkaConsumer(
        topics.DISPATCH_GRID.name,
        topics.DISPATCH_NETWORK.name,
        **kafka.client_options(),
        group_id="civicgrid-demo-departments",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    producer = kafka_producer(kafka)
    await consumer.start()
    await producer.start()
    answered = 0
    try:
        batches = await consumer.getmany(timeout_ms=3000, max_records=limit)
        planned = []
        for records in batches.values():
            for record in records:
                dispatch = orjson.loads(record.value or b"{}")
                planned.extend(model.respond(dispatch, datetime.now(_TAIZHOU)))
                answered += 1
        planned.sort(key=lambda item: (item[1]["case_id"], item[0]))
        futures = []
        for _, update in planned:
            futures.append(
                await producer.send(
                    topics.CASE_UPDATES.name,
                    orjson.dumps(update),
                    key=str(update["case_id"]).encode(),
                )
            )
            run.published[topics.CASE_UPDATES.name] += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await consumer.stop()
    return answered


async def wait_accounted(database_url: str, expected: int, wait_s: float) -> int:
    connection = await asyncpg.connect(database_url)
    bar = Progress("processed", expected)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            accounted = int(await connection.fetchval(COUNT_ACCOUNTED))
            bar.advance(accounted - bar.done)
            if accounted >= expected or time.monotonic() > deadline:
                return accounted
            await asyncio.sleep(0.5)
    finally:
        bar.close()
        await connection.close()


async def summary(database_url: str) -> dict[str, object]:
    connection = await asyncpg.connect(database_url)
    try:
        fetch = connection.fetch
        return {
            "events": await connection.fetchval("SELECT count(*) FROM events"),
            "events_by_kind": dict(await fetch("SELECT kind, count(*) FROM events GROUP BY 1")),
            "duplicates": await connection.fetchval("SELECT count(*) FROM duplicate_deliveries"),
            "dead_letters": dict(
                await fetch("SELECT kind, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1")
            ),
            # A case dispatched again (escalated, re-dispatched) while the simulated actors
            # still answer its earlier dispatch gets steps the state machine refuses as stale.
            "stale_steps": await connection.fetchval(
                """SELECT count(*) FROM dead_letters d JOIN events e USING (event_id)
                   WHERE d.kind = 'rejected_transition' AND (SELECT count(*) FROM dispatches x
                         WHERE x.case_id = e.payload->'event'->>'case_id') > 1"""
            ),
            # the case to try `case show` on: one whose SLA clock runs, the most pressing
            "example_case": await connection.fetchval(
                "SELECT case_code FROM cases ORDER BY next_timer_at IS NULL, is_open DESC, "
                "deadline NULLS LAST, case_code LIMIT 1"
            ),
            "cases_by_level": dict(
                await fetch("SELECT level, count(*) FROM cases GROUP BY 1 ORDER BY 1")
            ),
            "cases_by_state": dict(
                await fetch("SELECT state, count(*) FROM cases GROUP BY 1 ORDER BY 1")
            ),
            "dispatches": dict(
                await fetch("SELECT level, count(*) FROM dispatches GROUP BY 1 ORDER BY 1")
            ),
            "rows": {
                table: await connection.fetchval(f"SELECT count(*) FROM {table}")
                for table in (
                    "events",
                    "duplicate_deliveries",
                    "dead_letters",
                    "cases",
                    "case_history",
                    "dispatches",
                    "alerts",
                    "scan_audits",
                    "update_audits",
                )
            },
        }
    finally:
        await connection.close()


async def accounted_now(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(COUNT_ACCOUNTED))
    finally:
        await connection.close()


def print_summary(run: DemoRun, facts: dict[str, object], seconds: float, ok: bool) -> None:
    published = sum(run.published.values())
    lines = [
        "",
        "civicgrid demo — summary",
        f"  published        {published:,} records "
        + ", ".join(
            f"{topic.split('.')[1]} {count:,}" for topic, count in sorted(run.published.items())
        ),
        f"  processed        {facts['events']:,} events {facts['events_by_kind']}",
        f"  duplicates       {facts['duplicates']:,} re-deliveries skipped",
        f"  dead letters     {facts['dead_letters']}",
        f"  stale steps      {facts['stale_steps']} rejected_transition: answers to an earlier "
        "dispatch of a case dispatched again (refused by design)",
        f"  cases by level   {facts['cases_by_level']}",
        f"  cases by state   {facts['cases_by_state']}",
        f"  dispatches       {facts['dispatches']}",
        f"  rows in Postgres {facts['rows']}",
        f"  throughput       {published / seconds:,.0f} records/s end to end ({seconds:.1f} s)",
        f"  accounted        {'every published record is in Postgres' if ok else 'MISMATCH'}",
    ]
    print("\n".join(lines))


def print_next_steps(
    program: str,
    case_code: str | None,
    day: date,
    data_dir: Path,
    links: Sequence[tuple[str, str]] = (),
) -> None:
    """What an operator can try once the demo is over: commands that read what it left in
    PostgreSQL (no broker needed), then `links` (what, URL) to the HTTP API and console."""
    commands = [
        f"{program} cases --open",
        *([f"{program} case show {case_code}"] if case_code else []),
        f"{program} assess --day {day.isoformat()}",
    ]
    lines = [
        "",
        f"what to try next (they read PostgreSQL under {data_dir}; no broker needed)",
        *(f"  {command}" for command in commands),
        *(f"  {what:<16} {url}" for what, url in links),
    ]
    print("\n".join(lines))


DEMO_OPERATOR = "demo-city"


async def demo_links(
    endpoints: Endpoints, api: ApiProcess, hasher: KeyedHasher
) -> list[tuple[str, str]]:
    """The URLs to open: the API, its OpenAPI docs, the services, one closed public case's
    resident page (with its secret) and request, a partner key to file with, and the
    console with a city operator's sign-in (on the roster, so its actions apply)."""
    database_url = endpoints.database_url
    public_codes = [c.code for c in Taxonomy.default() if c.public]
    connection = await asyncpg.connect(database_url)
    try:
        case_code = await connection.fetchval(
            "SELECT case_code FROM cases WHERE category = ANY($1)"
            " ORDER BY state = 'CLOSED' DESC, updated_at DESC LIMIT 1",
            public_codes,
        )
        key = await create_api_key(connection, "demo-partner")
        password = secrets.token_urlsafe(9)
        operator = Operator(DEMO_OPERATOR, Role.CITY, "泰州市")
        await add_operator(connection, operator, hash_password(password))
    finally:
        await connection.close()
    await publish_roster_entry(endpoints.kafka, operator, {})
    links = [
        ("API", f"{api.url}/"),
        ("API docs", f"{api.url}/docs"),
        ("Open311 services", f"{api.url}/open311/v2/services.json"),
    ]
    if case_code:
        secret = case_link_secret(hasher, case_code)
        links += [
            ("Open311 request", f"{api.url}/open311/v2/requests/{case_code}.json"),
            ("case page", f"{api.url}/c/{case_code}?k={secret}"),
        ]
    links += [
        ("demo api_key", key),
        ("console", f"{api.url}/console"),
        ("console sign-in", f"{DEMO_OPERATOR} / {password}"),
    ]
    return links
