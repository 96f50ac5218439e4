"""A hostile tester's corpus against one `civicgrid run` (issue 16, "a hidden hostile corpus").

Sent with a plain aiokafka producer, not the project's clients; the records are built in
tests/reliability/hostile.py from dicts and bytes, and leaks are searched for by the planted
numbers' digits and the planted ids, not with the project's masker. One worker takes the whole
corpus: state records (grids, registry, actors), then reports, scans and patrols, then case
updates on the cases they opened. It must end with:

- every inbound offset in `events`, `duplicate_deliveries` or `dead_letters`, in one of the
  README's combinations, and as the corpus expects for that record;
- every state record the follower refuses a dead letter, the others applied;
- the worker alive (never restarted), live and ready, its follower following;
- no planted personal number and no planted person's id in clear in any PostgreSQL table,
  on any output topic (the dead letters' kept originals and keys decoded) or in the log.
"""

import asyncio
import base64
import json
import time
from collections.abc import Callable, Sequence
from urllib.request import urlopen

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from civicgrid.embedded.stack import Endpoints
from tests.reliability.hostile import (
    DEAD,
    LEGAL,
    Corpus,
    Hostile,
    Leaks,
    Place,
    events,
    state,
    updates,
)
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.city.roster import actor_records
from tools.workerproc import WorkerProcess

Offset = tuple[str, int, int]
TOPICS = {
    "reports": "civic.reports.v1",
    "scans": "civic.scans.v1",
    "patrols": "civic.patrols.v1",
    "updates": "civic.case-updates.v1",
    "grids": "civic.grids.v1",
    "registry": "civic.registry.v1",
    "actors": "civic.actors.v1",
}
STATE_TOPICS = {TOPICS["grids"], TOPICS["registry"], TOPICS["actors"]}
OUTPUT_TOPICS = (
    "civic.cases.v1",
    "civic.dispatch.grid.v1",
    "civic.dispatch.network.v1",
    "civic.alerts.v1",
    "civic.assessments.v1",
    "civic.deadletter.v1",
)
_ENV = {
    "CIVICGRID_LOG_FORMAT": "json",
    "CIVICGRID_SLA_CHECK_SECONDS": "86400",
    "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400",
}


async def send(bootstrap: str, records: Sequence[Hostile]) -> list[Offset]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        max_request_size=8 * 1024 * 1024,
        linger_ms=5,
    )
    await producer.start()
    try:
        placed = []
        for record in records:  # one at a time: the order within a partition is the corpus's
            sent = await producer.send(
                record.topic, record.value, key=record.key, headers=list(record.headers) or None
            )
            meta = await sent
            placed.append((meta.topic, meta.partition, meta.offset))
        return placed
    finally:
        await producer.stop()


_WHERE = """
    SELECT topic, partition, "offset", 'events', NULL FROM events
    UNION ALL SELECT topic, partition, "offset", 'duplicate_deliveries', NULL
      FROM duplicate_deliveries
    UNION ALL SELECT topic, partition, "offset", 'dead_letters', kind FROM dead_letters"""


async def where(url: str) -> tuple[dict[Offset, frozenset[str]], dict[Offset, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(_WHERE)
    finally:
        await connection.close()
    tables: dict[Offset, set[str]] = {}
    kinds: dict[Offset, str] = {}
    for topic, partition, offset, table, kind in rows:
        tables.setdefault((topic, partition, offset), set()).add(table)
        if kind is not None:
            kinds[topic, partition, offset] = kind
    return {o: frozenset(t) for o, t in tables.items()}, kinds


async def settle(url: str, needed: set[Offset], wait_s: float) -> None:
    """Until every offset in `needed` is in a table, then until nothing changes for 3 s."""
    deadline = time.monotonic() + wait_s
    last: object = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        tables, kinds = await where(url)
        if needed <= tables.keys():
            if (tables, kinds) != last:
                last, quiet_since = (tables, kinds), time.monotonic()
            elif time.monotonic() - quiet_since > 3.0:
                return
        await asyncio.sleep(0.5)


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[tuple[bytes | None, bytes | None]] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 2.0:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                found.extend((r.key, r.value) for r in batch)
                quiet_since = time.monotonic()
        return found
    finally:
        await consumer.stop()


async def dirty_tables(url: str, leaks: Leaks) -> list[str]:
    connection = await asyncpg.connect(url)
    found = []
    try:
        names = [
            r[0]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        for name in names:
            async with connection.transaction():
                async for row in connection.cursor(f'SELECT t::text FROM "{name}" t'):
                    number, person = leaks.number_in(row[0]), leaks.id_in(row[0])
                    if number or person:
                        found.append(f"{name}: {number or person} in {row[0][:300]}")
                        break
    finally:
        await connection.close()
    return found


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _ready(worker: WorkerProcess) -> dict[str, object]:
    with urlopen(f"http://127.0.0.1:{worker.port}/health/ready", timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


def test_a_hostile_corpus_is_accounted_for_and_leaks_nothing(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, bootstrap = endpoints.database_url, endpoints.kafka_bootstrap
    city = generate_city("demo", 7)
    asyncio.run(publish_city(bootstrap, city, progress=False))
    home, away = city.grids[0], city.grids[5]
    code = next(c for c in city.iter_codes([home.grid_id]) if c.lat is not None)
    far = next(c for c in city.iter_codes([away.grid_id]) if c.lat is not None)
    roster = list(actor_records(city))
    place = Place(
        code=code.code,
        grid_id=home.grid_id,
        lat=code.lat,
        lon=code.lon,
        other_grid=away.grid_id,
        grid_worker=next(
            a["actor_id"]
            for a in roster
            if a["kind"] == "grid_worker" and home.grid_id in a["grids"]
        ),
        operator=next(
            a["actor_id"]
            for a in roster
            if a["kind"] == "operator" and a.get("community") == home.community
        ),
        department=next(a["actor_id"] for a in roster if a["kind"] == "department"),
    )
    corpus = Corpus(place)
    worker = start_worker(**_ENV)
    worker.wait_ready()

    # state first: what the events are placed against must be in the follower
    state_records = list(state(corpus, TOPICS, home.to_grid_record(), code.to_registry_record()))
    first = list(events(corpus, TOPICS))
    # a case in another grid, for the updates that reach across grids
    first.append(
        Hostile(
            TOPICS["reports"],
            far.code.encode(),
            json.dumps(corpus.report(code=far.code, lat=far.lat, lon=far.lon)).encode(),
            (frozenset({"events"}),),
            "a report in another grid",
        )
    )
    state_offsets = asyncio.run(send(bootstrap, state_records))
    time.sleep(2.0)  # the follower applies the state before the events are placed
    first_offsets = asyncio.run(send(bootstrap, first))
    asyncio.run(settle(url, set(first_offsets), wait_s=180))

    cases = asyncio.run(_cases(url))
    case_id = next(c for c, g in cases if g == home.grid_id)
    other_case = next(c for c, g in cases if g == away.grid_id)
    second = list(updates(corpus, TOPICS["updates"], case_id, other_case))
    second_offsets = asyncio.run(send(bootstrap, second))
    asyncio.run(settle(url, set(second_offsets), wait_s=120))

    tables, kinds = asyncio.run(where(url))
    wrong = []
    for record, offset in zip(first + second, first_offsets + second_offsets, strict=True):
        went = tables.get(offset, frozenset())
        if went not in LEGAL:
            wrong.append(f"{record.why}: {sorted(went)} is no README combination")
        elif went not in record.outcomes:
            wrong.append(f"{record.why}: {sorted(went)} {kinds.get(offset)}")
        elif record.kind is not None and kinds.get(offset) != record.kind:
            wrong.append(f"{record.why}: kind {kinds.get(offset)}, expected {record.kind}")
    for record, offset in zip(state_records, state_offsets, strict=True):
        went = tables.get(offset, frozenset())
        if went not in record.outcomes:
            wrong.append(f"state, {record.why}: {sorted(went)} {kinds.get(offset)}")
    summary: dict[str, int] = {}
    for offset in first_offsets + second_offsets + state_offsets:
        went = "+".join(sorted(tables.get(offset, frozenset()))) or "(state applied)"
        label = f"{went} {kinds.get(offset, '')}".strip()
        summary[label] = summary.get(label, 0) + 1
    print(f"\n{len(first) + len(second) + len(state_records)} hostile records:", summary)
    assert not wrong, "\n".join(wrong)

    assert worker.process is not None
    assert worker.process.poll() is None, "the worker exited"
    assert worker.health("/health/live") == 200
    assert worker.health() == 200
    ready = _ready(worker)
    assert ready.get("registry_following") is True, ready

    leaks = Leaks(corpus.numbers.planted, corpus.ids)
    assert asyncio.run(dirty_tables(url, leaks)) == []
    for topic in OUTPUT_TOPICS:
        for key, value in asyncio.run(read_all(bootstrap, topic)):
            texts = [_text(key), _text(value)]
            if topic == "civic.deadletter.v1" and value:
                kept = json.loads(value).get("value")
                texts.append(_text(base64.b64decode(kept)) if kept else "")
            for text in texts:
                assert leaks.number_in(text) is None, (topic, leaks.number_in(text), text[:300])
                assert leaks.id_in(text) is None, (topic, leaks.id_in(text), text[:300])
    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    assert leaks.number_in(log) is None, leaks.number_in(log)
    assert leaks.id_in(log) is None, leaks.id_in(log)
    # the corpus did reach the worker: a report of each kind of hostility was refused
    assert sum(1 for o in first_offsets + state_offsets if tables.get(o) == DEAD) > 50


async def _cases(url: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT case_id, grid_id FROM cases ORDER BY case_id")
    finally:
        await connection.close()
    return [(r[0], r[1]) for r in rows]
