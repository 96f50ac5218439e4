"""Fault scenarios against a real embedded stack (Tansu, PostgreSQL, `civicgrid run` workers).

`make chaos` (benchmarks/chaos.py) runs them at full size and tests/reliability at a small
one; both call `run_scenario`, so there is one implementation of every fault and of every
check. A scenario plays the same simulated stream twice, once without faults (the
reference) and once with them, each on a stack of its own, and compares what PostgreSQL
holds: every published offset accounted for, no event's effect applied twice, the same
case states, and the worker(s) still up and processing at the end.
"""

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from civicgrid.cli.common import prepare
from civicgrid.db.queries import ACCOUNTED_OFFSETS
from civicgrid.embedded.broker import EmbeddedBroker
from civicgrid.embedded.postgres import EmbeddedPostgres
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.topics import catalogue as topics
from tools.city.generate import generate_city
from tools.city.model import City
from tools.city.publish import publish_city
from tools.city.simulate import CitySimulator
from tools.workerproc import WorkerProcess

TAIZHOU = timezone(timedelta(hours=8))
# the same key in every worker of a run and in both runs, so actor hashes compare equal
_PSEUDONYM_KEY = "chaos-key-0123456789abcdef0123456789"
# The leader's wall-clock timers (SLA ticks, closed-window scoring and its cluster alerts)
# would change case states at moments that differ between two runs relative to their
# events; no run of a scenario gets them, so both runs of a comparison are equal here.
_NO_WALL_CLOCK_TIMERS = {
    "CIVICGRID_SLA_CHECK_SECONDS": "86400",
    "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400",
}

Record = tuple[str, str | None, bytes]
Offset = tuple[str, int, int]
Say = Callable[[str], None]


class Fault(StrEnum):
    WORKER_KILLS = "worker-kills"
    POSTGRES_DOWN = "postgres-down"
    FAILOVER = "failover"
    SIGTERM_IN_OUTAGE = "sigterm-in-outage"
    CONNECTION_KILLS = "connection-kills"
    POISON_PILLS = "poison-pills"
    HOT_POINT = "hot-point"


@dataclass(frozen=True)
class Plan:
    """How hard a scenario pushes: the chaos script and the tests differ only here."""

    events: int
    kills: int = 10
    postgres_down_s: float = 30.0
    drain_s: float = 300.0
    seed: int = 7
    hot_reports: int = 2000  # reports on one code in one burst (hot-point)
    storm_s: float = 1.5  # each connection-kill storm (connection-kills)


def event_stream(city: City, count: int, seed: int) -> list[Record]:
    """`count` inbound records of the simulated city, in the simulator's order; resends of
    the same event id (the simulator's app retries) are part of it, as in the city."""
    simulator = CitySimulator(city, seed, datetime.now(TAIZHOU))
    # the simulator paces by real time; 100 simulated seconds at a rate that covers `count`
    events = simulator.events(rate=count / 80.0, duration_s=100.0)
    return [(e.topic, e.key, orjson.dumps(e.value)) for e in itertools.islice(events, count)]


@dataclass
class Stack:
    """A broker and a PostgreSQL of one run; the PostgreSQL can be stopped and restarted
    on the same port, which the workers' URL names."""

    root: Path
    broker: EmbeddedBroker
    postgres: EmbeddedPostgres
    endpoints: Endpoints

    @classmethod
    async def start(cls, root: Path, city: City) -> "Stack":
        broker = EmbeddedBroker(root / "broker")
        postgres = EmbeddedPostgres(root / "postgres")
        (root / "broker").mkdir(parents=True, exist_ok=True)
        postgres.start()
        try:
            broker.start()
            endpoints = Endpoints(
                KafkaConnection.plaintext(broker.bootstrap), postgres.url, True, True
            )
            await prepare(endpoints, partitions=4)
            await publish_city(endpoints.kafka, city, progress=False)
        except BaseException:
            broker.stop()
            postgres.stop()
            raise
        return cls(root, broker, postgres, endpoints)

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        # a new server object on the old port: the workers keep their URL
        self.postgres = EmbeddedPostgres(self.postgres.data_dir, port=self.postgres.port)
        self.postgres.start()

    def stop(self) -> None:
        self.broker.stop()
        self.postgres.stop()


@dataclass
class Run:
    """One play of the stream on one stack, with the handles a fault needs."""

    stack: Stack
    records: Sequence[Record]
    say: Say
    rng: random.Random
    workers: list[WorkerProcess] = field(default_factory=list)
    published: set[Offset] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    _sent: int = 0
    _producer: AIOKafkaProducer | None = None

    def worker(self) -> WorkerProcess:
        number = len(self.workers)
        worker = WorkerProcess(
            self.stack.endpoints,
            self.stack.root / f"worker-{number}",
            self.stack.root / f"worker-{number}.log",
            {"CIVICGRID_PSEUDONYM_KEY": _PSEUDONYM_KEY, **_NO_WALL_CLOCK_TIMERS},
        ).start()
        self.workers.append(worker)
        return worker

    async def publish(self, fraction: float) -> None:
        """Publish the next `fraction` of the stream (the rest, at the end) and wait for
        the broker's acks; the acked offsets are what the run must account for."""
        await self.publish_to(self._sent + max(1, round(fraction * len(self.records))))

    async def publish_to(self, end: int) -> None:
        """Publish the stream up to record `end` (exclusive)."""
        if self._producer is None:
            # large enough for a poison pill's 900 KB value
            self._producer = kafka_producer(
                self.stack.endpoints.kafka, max_request_size=4 * 1024 * 1024
            )
            await self._producer.start()
        end = min(len(self.records), end)
        futures = [
            await self._producer.send(topic, value, key=None if key is None else key.encode())
            for topic, key, value in self.records[self._sent : end]
        ]
        for metadata in await asyncio.gather(*futures):
            self.published.add((metadata.topic, metadata.partition, metadata.offset))
        self._sent = end
        self.say(f"published {self._sent:,}/{len(self.records):,}")

    async def publish_rest(self) -> None:
        if self._sent < len(self.records):
            await self.publish(1.0)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        for worker in self.workers:
            worker.stop()


async def wait_ready(worker: WorkerProcess, wait_s: float = 120.0) -> None:
    await asyncio.to_thread(worker.wait_ready, wait_s)


def rss_kib(worker: WorkerProcess) -> int:
    """Resident memory of a worker process, to show a stalled sink does not buffer."""
    assert worker.process is not None
    for line in Path(f"/proc/{worker.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---- the faults ------------------------------------------------------------------------


async def _no_fault(run: Run, plan: Plan) -> None:
    await wait_ready(run.worker())
    await run.publish_rest()


async def _worker_kills(run: Run, plan: Plan) -> None:
    """SIGKILL the worker at a random moment while it works through each slice of the
    stream, and start it again at once: batches die between write, send and commit."""
    worker = run.worker()
    await wait_ready(worker)
    for kill in range(plan.kills):
        await run.publish(1 / (plan.kills + 1))
        await asyncio.sleep(run.rng.uniform(0.1, 2.0))
        worker.kill()
        run.say(f"kill {kill + 1}/{plan.kills}")
        worker.start()
        await wait_ready(worker)
    await run.publish_rest()


async def _postgres_down(run: Run, plan: Plan) -> None:
    """Stop PostgreSQL mid-stream for `postgres_down_s` while events keep arriving; the
    worker must report it (readiness 503, sink_up 0), hold memory, and catch up after."""
    worker = run.worker()
    await wait_ready(worker)
    await run.publish(0.4)
    await asyncio.sleep(0.5)
    rss_before = rss_kib(worker)
    run.stack.stop_postgres()
    run.say(f"PostgreSQL stopped for {plan.postgres_down_s:.0f} s")
    down_at = time.monotonic()
    await run.publish(0.4)
    statuses: Counter[int | None] = Counter()
    rss_peak = rss_before
    while time.monotonic() - down_at < plan.postgres_down_s:
        statuses[await asyncio.to_thread(worker.health)] += 1
        rss_peak = max(rss_peak, rss_kib(worker))
        await asyncio.sleep(0.5)
    run.stack.start_postgres()
    run.say("PostgreSQL started again")
    up_at = time.monotonic()
    await wait_ready(worker)
    run.notes.append(
        f"readiness while down: {dict(statuses)}; ready {time.monotonic() - up_at:.1f} s after "
        f"restart; worker RSS {rss_before // 1024} -> peak {rss_peak // 1024} MiB"
    )
    if not statuses[503]:
        raise AssertionError(f"readiness never went to 503 while PostgreSQL was down: {statuses}")
    await run.publish_rest()


async def _failover(run: Run, plan: Plan) -> None:
    """Two workers of one app share the partitions; one is SIGKILLed mid-stream and not
    restarted: the survivor must take over its partitions and finish the stream."""
    first, second = run.worker(), run.worker()
    await asyncio.gather(wait_ready(first), wait_ready(second))
    await run.publish(0.4)
    await asyncio.sleep(run.rng.uniform(0.1, 1.5))
    second.kill()
    run.say("second worker killed")
    await run.publish(0.3)
    await wait_ready(first)
    await run.publish_rest()


async def _sigterm_in_outage(run: Run, plan: Plan) -> None:
    """SIGTERM the worker while it waits out a PostgreSQL outage with a batch in hand, then
    bring both back: the stop must commit nothing that was not written (issue 16, item 1)."""
    worker = run.worker()
    await wait_ready(worker)
    await run.publish(0.4)
    run.stack.stop_postgres()
    await run.publish(0.3)
    for _ in range(int(plan.postgres_down_s * 4)):  # unready within the outage
        if await asyncio.to_thread(worker.health) == 503:
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(run.rng.uniform(1.0, 3.0))  # in the retry loop, a batch in hand
    stopped = time.monotonic()
    code = await asyncio.to_thread(worker.stop, 120.0)
    run.notes.append(
        f"SIGTERM during the outage: exit {code} in {time.monotonic() - stopped:.1f} s"
    )
    run.stack.start_postgres()
    worker.start()
    await wait_ready(worker)
    await run.publish_rest()


_KILL_BACKENDS = """
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()"""


async def _connection_kills(run: Run, plan: Plan) -> None:
    """Kill every backend of the worker every 100 ms for `storm_s` after each slice of the
    stream: the errors of a dying connection must be waited out (issue 16, item 7)."""
    worker = run.worker()
    await wait_ready(worker)
    killed = 0
    connection = await asyncpg.connect(run.stack.endpoints.database_url)
    try:
        for _ in range(plan.kills):
            await run.publish(1 / (plan.kills + 1))
            deadline = time.monotonic() + plan.storm_s
            while time.monotonic() < deadline:
                killed += await connection.fetchval(_KILL_BACKENDS)
                await asyncio.sleep(0.1)
    finally:
        await connection.close()
    run.notes.append(f"{plan.kills} storms, {killed} backends terminated")
    await run.publish_rest()


async def _hot_point(run: Run, plan: Plan) -> None:
    """Publish up to the burst of reports on one code, then the burst, and SIGKILL the
    worker while it works through it; restart at once (the stream is `Stream.hot_point`)."""
    worker = run.worker()
    await wait_ready(worker)
    start = len(run.records) // 2 - plan.hot_reports // 2
    await run.publish_to(start)
    await run.publish_to(start + plan.hot_reports)
    burst_at = time.monotonic()
    await asyncio.sleep(run.rng.uniform(0.5, 2.0))
    worker.kill()
    worker.start()
    await wait_ready(worker)
    await run.publish_rest()
    await drain(run, plan.drain_s)
    run.notes.append(
        f"{plan.hot_reports:,} reports on one code, killed in the burst: everything accounted "
        f"{time.monotonic() - burst_at:.0f} s after the burst was published"
    )


FAULTS: dict[Fault, Callable[[Run, Plan], Awaitable[None]]] = {
    Fault.WORKER_KILLS: _worker_kills,
    Fault.POSTGRES_DOWN: _postgres_down,
    Fault.FAILOVER: _failover,
    Fault.SIGTERM_IN_OUTAGE: _sigterm_in_outage,
    Fault.CONNECTION_KILLS: _connection_kills,
    # the pills are in the middle of the stream: playing it is the fault
    Fault.POISON_PILLS: _no_fault,
    Fault.HOT_POINT: _hot_point,
}


# ---- what PostgreSQL holds -------------------------------------------------------------

# an event id in two cases, or twice in one: its effect was applied twice
_DOUBLE_EFFECTS = """
    SELECT coalesce(sum(n - 1), 0) FROM (
        SELECT count(*) AS n FROM cases, jsonb_array_elements_text(data -> 'event_ids') AS e
        GROUP BY e.value) members"""
# a record delivered again after a crash: same offset as the row it repeats
_REDELIVERED = """
    SELECT count(*) FROM duplicate_deliveries d JOIN events e USING (event_id)
    WHERE (d.topic, d.partition, d."offset") = (e.topic, e.partition, e."offset")"""
# Reports held in cases per (grid, category): equal in any two runs whatever the order,
# since each accepted report opens or joins exactly one case.
_CASE_REPORTS = """
    SELECT grid_id, category, sum(jsonb_array_length(data -> 'event_ids'))::int
    FROM cases GROUP BY 1, 2"""
# Each case by content, not id: case ids are per-grid sequence numbers, renumbered by one
# swapped pair of arrivals (docs/reliability.md, "Comparing case states").
_CASE_CONTENTS = """
    SELECT data -> 'event_ids', state, level, category, severity,
           (data ->> 'duplicate_count')::int, (data ->> 'network')::boolean,
           data -> 'escalation_reasons'
    FROM cases"""


@dataclass(frozen=True)
class CaseContent:
    """What a case is, apart from its id and times: compared between runs for the case
    holding the same event ids."""

    state: str
    level: str
    category: str
    severity: str
    duplicate_count: int
    network: bool
    escalation_reasons: tuple[str, ...]  # sorted: compared as a multiset


@dataclass(frozen=True)
class Tally:
    published: int
    accounted: int
    lost: int
    event_rows: int
    double_effects: int
    redelivered: int
    resends: int
    dead_letters: int
    case_reports: Counter[tuple[str, str]]
    # keyed by the case's event ids: unique while no event is in two cases (double_effects)
    case_contents: dict[frozenset[str], CaseContent]

    @property
    def cases(self) -> int:
        return len(self.case_contents)


async def tally(url: str, published: set[Offset]) -> Tally:
    connection = await asyncpg.connect(url)
    try:
        accounted = {(r[0], r[1], r[2]) for r in await connection.fetch(ACCOUNTED_OFFSETS)}
        reports: Counter[tuple[str, str]] = Counter()
        for grid_id, category, count in await connection.fetch(_CASE_REPORTS):
            reports[grid_id, category] = count
        contents: dict[frozenset[str], CaseContent] = {}
        for row in await connection.fetch(_CASE_CONTENTS):
            ids, state, level, category, severity, duplicates, network, reasons = row
            reasons_sorted = tuple(sorted(orjson.loads(reasons)))
            contents[frozenset(orjson.loads(ids))] = CaseContent(
                state, level, category, severity, duplicates, network, reasons_sorted
            )
        redelivered = await connection.fetchval(_REDELIVERED)
        return Tally(
            published=len(published),
            accounted=len(accounted & published),
            lost=len(published - accounted),
            event_rows=await connection.fetchval("SELECT count(*) FROM events"),
            double_effects=await connection.fetchval(_DOUBLE_EFFECTS),
            redelivered=redelivered,
            resends=await connection.fetchval("SELECT count(*) FROM duplicate_deliveries")
            - redelivered,
            dead_letters=await connection.fetchval("SELECT count(*) FROM dead_letters"),
            case_reports=reports,
            case_contents=contents,
        )
    finally:
        await connection.close()


async def drain(run: Run, wait_s: float) -> None:
    """Wait until every published offset is accounted for (or time runs out)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        found = await tally(run.stack.endpoints.database_url, run.published)
        run.say(f"accounted {found.accounted:,}/{found.published:,}")
        if found.lost == 0:
            return
        await asyncio.sleep(1.0)


# ---- a scenario ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseComparison:
    """Two runs' cases matched by the set of event ids each holds (case ids are numbered in
    arrival order, so they may differ).

    `same`: the same reports in one case and the same content. `differing`: the same
    reports in one case, another state, level, severity, count or reasons. `only_first`,
    `only_second`: cases whose reports are grouped otherwise in the other run (which
    reports joined which case). A pass needs both empty.
    """

    same: int
    differing: int
    only_first: int
    only_second: int
    fields: Counter[str]  # which fields the `differing` cases differ in
    examples: tuple[str, ...]

    @property
    def regrouped(self) -> int:
        return self.only_first + self.only_second

    def describe(self) -> str:
        return (
            f"{self.same:,} same, {self.differing} differing, regrouped "
            f"{self.only_first}+{self.only_second}"
        )


def compare_cases(first: Tally, second: Tally, examples: int = 3) -> CaseComparison:
    a, b = first.case_contents, second.case_contents
    both = a.keys() & b.keys()
    differing = [ids for ids in both if a[ids] != b[ids]]
    fields: Counter[str] = Counter()
    shown: list[str] = []
    for ids in sorted(differing, key=sorted):
        changed = {
            name: (value, getattr(b[ids], name))
            for name, value in vars(a[ids]).items()
            if value != getattr(b[ids], name)
        }
        fields.update(changed.keys())
        if len(shown) < examples:
            shown.append(f"{len(ids)} reports: {changed}")
    return CaseComparison(
        same=len(both) - len(differing),
        differing=len(differing),
        only_first=len(a.keys() - b.keys()),
        only_second=len(b.keys() - a.keys()),
        fields=fields,
        examples=tuple(shown),
    )


@dataclass(frozen=True)
class Reference:
    """Two fault-free runs of the stream: the first is what a faulted run is compared with,
    the second shows that runs with no fault give the same cases whatever the fetch timing."""

    tally: Tally
    again: Tally

    @property
    def baseline(self) -> CaseComparison:
        return compare_cases(self.tally, self.again)


@dataclass(frozen=True)
class Outcome:
    fault: Fault
    plan: Plan
    reference: Reference
    faulted: Tally
    workers_up: int
    workers_expected: int
    seconds: float
    notes: tuple[str, ...]
    pills: int = 0  # records of the faulted run's input that must be dead letters

    @property
    def reports_equal(self) -> bool:
        return self.reference.tally.case_reports == self.faulted.case_reports

    @property
    def cases(self) -> CaseComparison:
        return compare_cases(self.reference.tally, self.faulted)

    @property
    def passed(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        r, f = self.reference.tally, self.faulted
        baseline = self.reference.baseline
        found = []
        if f.lost:
            found.append(f"{f.lost} published offsets not in PostgreSQL")
        if f.double_effects:
            found.append(f"{f.double_effects} events applied twice")
        for name in ("event_rows", "resends"):
            if getattr(f, name) != getattr(r, name):
                found.append(f"{name}: {getattr(f, name)} vs reference {getattr(r, name)}")
        if f.dead_letters != r.dead_letters + self.pills:
            found.append(
                f"dead_letters: {f.dead_letters} vs reference {r.dead_letters} + {self.pills} "
                "poison pills"
            )
        if not self.reports_equal:
            diff = (f.case_reports - r.case_reports) + (r.case_reports - f.case_reports)
            found.append(
                f"reports in cases differ for {len(diff)} grid/categories: {list(diff)[:3]}"
            )
        # The case book makes a case's content a function of the set of reports it has seen
        # (docs/reliability.md, "Case contents"), so every run of the stream must give the
        # same cases, the two fault-free runs included: no allowance for arrival order.
        for name, compared in (("faulted", self.cases), ("second fault-free", baseline)):
            if compared.differing:
                found.append(
                    f"{compared.differing} cases of the {name} run hold the reference's reports "
                    f"with other content ({dict(compared.fields)}), e.g. "
                    f"{'; '.join(compared.examples)}"
                )
            if compared.regrouped:
                found.append(
                    f"{compared.regrouped} cases grouped otherwise in the {name} run than in "
                    f"the reference ({compared.only_first}+{compared.only_second})"
                )
        if self.workers_up != self.workers_expected:
            found.append(f"{self.workers_up} of {self.workers_expected} workers ready at the end")
        return found


@dataclass(frozen=True)
class Stream:
    """The city and the inbound records every run of a scenario (or of the chaos script)
    plays, identical to the byte: the reference and the faulted runs see the same input.
    `pills` records of it must become dead letters (the poison pills)."""

    city: City
    records: list[Record]
    pills: int = 0

    @classmethod
    def make(cls, plan: Plan) -> "Stream":
        city = generate_city("demo", plan.seed)
        return cls(city, event_stream(city, plan.events, plan.seed))

    def _template(self) -> tuple[str, str | None, dict[str, Any]]:
        """The stream's first report with a code and a photo: pills and bursts are made of
        the city's own data, changed in one field."""
        for topic, key, value in self.records:
            fields = orjson.loads(value)
            if topic == topics.REPORTS.name and fields.get("code") and fields.get("photos"):
                return topic, key, fields
        raise ValueError("the stream has no report with a code and a photo")

    def _with(self, inserted: list[Record], pills: int) -> "Stream":
        middle = len(self.records) // 2
        records = self.records[:middle] + inserted + self.records[middle:]
        return replace(self, records=records, pills=self.pills + pills)

    def with_poison_pills(self, seed: int) -> "Stream":
        """Three records the schema let through and the store could not take, in the
        middle of the stream (issue 16, items 2, 3 and 8): a 900 KB value, a NUL in a photo
        URL, a report dated 1900. Each must be a dead letter and change nothing else."""
        topic, key, fields = self._template()
        ids = random.Random(f"pills/{seed}")
        pills = [
            {**fields, "description": "路灯不亮" * (900_000 // 12)},
            {**fields, "photos": ["https://oss.civicgrid.example/photos/a\u0000b.jpg"]},
            {**fields, "occurred_at": "1900-01-01T08:00:00+08:00"},
        ]
        records = [
            (
                topic,
                key,
                orjson.dumps({**pill, "event_id": str(uuid.UUID(int=ids.getrandbits(128)))}),
            )
            for pill in pills
        ]
        return self._with(records, len(records))

    def with_hot_point(self, reports: int, seed: int) -> "Stream":
        """`reports` reports on one code in one burst in the middle of the stream, each from
        another resident (a burst pipe seen by a whole street; issue 16, item 4)."""
        topic, key, fields = self._template()
        ids = random.Random(f"hot/{seed}")
        at = datetime.fromisoformat(fields["occurred_at"])
        burst = [
            (
                topic,
                key,
                orjson.dumps(
                    {
                        **fields,
                        "event_id": str(uuid.UUID(int=ids.getrandbits(128), version=4)),
                        "reporter_id": f"R-{70_000_000 + n}",
                        "occurred_at": (at + timedelta(milliseconds=20 * n)).isoformat(),
                    }
                ),
            )
            for n in range(reports)
        ]
        return self._with(burst, 0)

    def for_fault(self, fault: Fault, plan: Plan) -> "Stream":
        """The input of a scenario: the stream itself but for the two whose input is the
        fault."""
        if fault is Fault.POISON_PILLS:
            return self.with_poison_pills(plan.seed)
        if fault is Fault.HOT_POINT:
            return self.with_hot_point(plan.hot_reports, plan.seed)
        return self


async def play(
    root: Path,
    stream: Stream,
    fault: Callable[[Run, Plan], Awaitable[None]],
    plan: Plan,
    say: Say,
) -> tuple[Tally, int, list[str]]:
    """One run: a fresh stack, the fault, then drain; returns the tally, the number of
    workers alive and ready at the end, and the run's notes."""
    stack = await Stack.start(root, stream.city)
    run = Run(stack, stream.records, say, random.Random(f"{plan.seed}/{root.name}"))
    try:
        await fault(run, plan)
        await drain(run, plan.drain_s)
        found = await tally(stack.endpoints.database_url, run.published)
        alive = [w for w in run.workers if w.process is not None and w.process.poll() is None]
        ready = sum(1 for w in alive if w.health() == 200)
        return found, ready, run.notes
    finally:
        await run.close()
        stack.stop()


async def reference_runs(stream: Stream, plan: Plan, root: Path, say: Say) -> Reference:
    tallies = []
    for name in ("reference", "reference-again"):
        say(f"{name} run (no faults)")
        found, _, _ = await play(root / name, stream, _no_fault, plan, say)
        tallies.append(found)
    return Reference(*tallies)


async def run_scenario(
    fault: Fault,
    plan: Plan,
    root: Path,
    say: Say = lambda _: None,
    stream: Stream | None = None,
    reference: Reference | None = None,
) -> Outcome:
    """The faulted run compared with the reference runs of the same stream (run here
    unless given: the chaos script and the tests share them across their scenarios)."""
    started = time.monotonic()
    stream = stream or Stream.make(plan)
    played = stream.for_fault(fault, plan)
    if reference is None or len(played.records) - played.pills != len(stream.records):
        # a burst on one point is input, not a fault: compared with fault-free runs of it
        reference = await reference_runs(played, plan, root / f"{fault.value}-reference", say)
    say(f"{fault.value} run")
    faulted, ready, notes = await play(root / fault.value, played, FAULTS[fault], plan, say)
    # every scenario ends with one worker running: the killed one restarted, or the survivor
    return Outcome(
        fault,
        plan,
        reference,
        faulted,
        ready,
        1,
        time.monotonic() - started,
        tuple(notes),
        played.pills,
    )
