"""A simulated week through a running worker, played in simulated time, and its assessment.

`play_week` publishes the city simulator's events in order of their simulated `occurred_at`,
one step of simulated time at a time. After each step has landed in Postgres it answers every
new dispatch with the department model's updates (dated in simulated time from the moment the
case was dispatched) and, at the step's end, sends the SLA ticks the leader would have sent at
that simulated moment. The worker's own SLA timer must be off (CIVICGRID_SLA_CHECK_SECONDS
high): it runs on the wall clock, for which the whole week is overdue at once.

A week can start with a warm-up (`Week.warmup_days`): the same simulator run, begun that many
days earlier, whose grid workers' fieldwork (scans, patrol stops, household visits) goes
through the worker a simulated day at a time. Patrol coverage is measured over 30 days, so
without it the week's first days would be judged on a grid walked for a day or two. Reports
and residents' scans of the warm-up are not played: they feed only the figures of their own
day, and cases would need answers and SLA ticks, which would make the warm-up as slow as the
week.

`recompute` runs `civicgrid assess --day D --format csv` and compares it with the stored
snapshots figure for figure; `day_summary` tabulates a day's grades and figure ranges;
`diligence_agreement` tells how well the workers' scores order them by the diligence the
simulator gave them (tools/city/mix.py). The
benchmark (benchmarks/assessment_week.py) and tests/integration/test_assessment_week.py both
use this module.
"""

import asyncio
import csv
import heapq
import io
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from civicgrid.db.queries import COUNT_ACCOUNTED, grids_with_timers_due
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.timers import tick_messages
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_clients import producer as kafka_producer
from civicgrid.schemas.enums import SubjectKind
from civicgrid.topics import catalogue as topics
from tools.city.departments import DepartmentModel
from tools.city.mix import worker_diligence
from tools.city.model import City
from tools.city.simulate import CitySimulator, SimEvent

# When a case opened and who reported it first: a resident's case gets a worker's verify.
_OPENING = """SELECT c.opened_at, (SELECT e.payload->'event'->>'reporter_role' FROM events e
    WHERE e.kind = 'report' AND e.case_id = c.case_id ORDER BY e.occurred_at LIMIT 1) AS role
FROM cases c WHERE c.case_id = $1"""
_ALWAYS = -1  # the generation of a planned verify: a later dispatch does not cancel it
# The state the dispatch left the case in: only DISPATCHED and ESCALATED ask for acceptance.
# A dispatch of a case already being handled tells its handlers of another reason for it (a
# repeat point, a cluster); they go on with what they were doing.
_NEW_DISPATCHES = """SELECT d.case_id, d.version, d.level, d.created_at, d.payload::text AS payload,
    h.state IN ('DISPATCHED', 'ESCALATED') AS awaits_acceptance
FROM dispatches d JOIN case_history h USING (case_id, version)
WHERE d.created_at >= $1 ORDER BY d.created_at, d.case_id, d.version, d.level"""
# (simulated time, topic, key, value) of one record to send
_Outgoing = tuple[datetime, str, str | None, dict[str, Any]]
_LANDING_S = 120.0  # longest wait for one step to land; the worker is far quicker
_TICK_WAIT_S = 10.0  # a tick lands in well under a second; longer means it fired nothing
_TICK_ROUNDS = 3  # a breach past a warning can leave a second timer due at the same moment


@dataclass(frozen=True)
class Week:
    start: datetime
    """Midnight of the first day, in the city's zone."""
    days: int
    events_per_day: float
    step: timedelta
    seed: int
    warmup_days: int = 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def warmup_start(self) -> datetime:
        return self.start - timedelta(days=self.warmup_days)

    def dates(self) -> list[date]:
        return [(self.start + timedelta(days=d)).date() for d in range(self.days)]


@dataclass
class WeekStats:
    warmup: Counter[str] = field(default_factory=Counter)
    """Fieldwork published during the warm-up, by topic."""
    warmup_left_out: int = 0
    """Warm-up events not played: reports and residents' scans."""
    warmup_seconds: float = 0.0
    week_seconds: float = 0.0
    published: Counter[str] = field(default_factory=Counter)
    dispatches: int = 0
    undated: int = 0
    """Dispatches without a deadline: the model cannot time an answer, so none is sent."""
    notices: int = 0
    """Dispatches of cases already being handled: another reason, nothing to accept."""
    superseded: int = 0
    """Planned updates dropped because the case was dispatched again (escalated, re-routed)."""
    not_due: int = 0
    """Planned updates falling after the week's end: their cases are still open then."""
    ticks: int = 0
    tick_stalls: int = 0
    """Ticks after which a timer was still due: should stay 0."""


class _Player:
    def __init__(self, endpoints: Endpoints, city: City, week: Week) -> None:
        self.week = week
        self.simulator = CitySimulator(city, week.seed, week.warmup_start)
        self.model = DepartmentModel(week.seed)
        self.workers = {grid.grid_id: grid.worker_ids for grid in city.grids}
        self.verified: set[str] = set()
        self.stats = WeekStats()
        self.kafka, self.url = endpoints.kafka, endpoints.database_url
        # (occurred_at, seq, generation, topic, value): a case's answer to its latest dispatch
        # only, and the verifies of residents' cases
        self.updates: list[tuple[datetime, int, int, str, dict[str, Any]]] = []
        self.generation: Counter[str] = Counter()
        self.answered: set[tuple[str, int, str]] = set()
        self.sent = 0
        self.seq = 0

    async def play(self) -> WeekStats:
        self.connection = await asyncpg.connect(self.url)
        self.producer = kafka_producer(self.kafka, linger_ms=5)
        await self.producer.start()
        try:
            self.baseline = int(await self.connection.fetchval(COUNT_ACCOUNTED))
            rate = self.week.events_per_day / 86_400
            days = self.week.warmup_days + self.week.days
            events = self.simulator.events(rate, days * 86_400.0)
            started = time.monotonic()
            upcoming = await self._warm_up(events)
            self.stats.warmup_seconds = time.monotonic() - started
            moment = self.week.start
            while moment < self.week.end:
                step_end = min(moment + self.week.step, self.week.end)
                batch: list[_Outgoing] = []
                while upcoming and self.simulator.sim_time(upcoming.offset_s) < step_end:
                    at = self.simulator.sim_time(upcoming.offset_s)
                    batch.append((at, upcoming.topic, upcoming.key, upcoming.value))
                    upcoming = next(events, None)
                # answers due in the step may come from dispatches the step itself makes
                while batch or self._due_before(step_end):
                    batch += self._pop_due(step_end)
                    await self._send(sorted(batch, key=lambda item: item[0]), self.stats.published)
                    batch = []
                    await self._answer(moment - self.week.step)
                await self._tick(step_end)
                await self._answer(moment - self.week.step)
                moment = step_end
            self.stats.week_seconds = time.monotonic() - started - self.stats.warmup_seconds
        finally:
            await self.producer.stop()
            await self.connection.close()
        self.stats.not_due += sum(
            1 for _, _, gen, _, value in self.updates if gen == self.generation[value["case_id"]]
        )
        return self.stats

    async def _warm_up(self, events: Iterator[SimEvent]) -> SimEvent | None:
        """Play the warm-up's fieldwork a day at a time; returns the week's first event."""
        upcoming = next(events, None)
        moment = self.week.warmup_start
        while moment < self.week.start:
            day_end = moment + timedelta(days=1)
            batch: list[_Outgoing] = []
            while upcoming and self.simulator.sim_time(upcoming.offset_s) < day_end:
                if _fieldwork(upcoming):
                    at = self.simulator.sim_time(upcoming.offset_s)
                    batch.append((at, upcoming.topic, upcoming.key, upcoming.value))
                else:
                    self.stats.warmup_left_out += 1
                upcoming = next(events, None)
            await self._send(batch, self.stats.warmup)
            moment = day_end
        return upcoming

    def _due_before(self, moment: datetime) -> bool:
        return bool(self.updates) and self.updates[0][0] < moment

    def _pop_due(self, moment: datetime) -> list[_Outgoing]:
        out: list[_Outgoing] = []
        while self._due_before(moment):
            at, _, generation, topic, value = heapq.heappop(self.updates)
            case_id = str(value["case_id"])
            if generation not in (_ALWAYS, self.generation[case_id]):
                self.stats.superseded += 1
                continue
            out.append((at, topic, str(value.get("worker_id", case_id)), value))
        return out

    async def _send(self, batch: Sequence[_Outgoing], tally: Counter[str]) -> None:
        futures = []
        for _, topic, key, value in batch:
            encoded = None if key is None else key.encode()
            futures.append(await self.producer.send(topic, orjson.dumps(value), key=encoded))
            tally[topic] += 1
        await asyncio.gather(*futures)
        self.sent += len(batch)
        await self._landed(self._accounted_reached)

    async def _accounted_reached(self) -> bool:
        accounted = int(await self.connection.fetchval(COUNT_ACCOUNTED))
        return accounted >= self.baseline + self.sent

    async def _landed(self, done: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + _LANDING_S
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not process a step within {_LANDING_S:.0f} s")
            await asyncio.sleep(0.02)

    async def _answer(self, since: datetime) -> None:
        """Plan the department model's answer to every dispatch not answered yet.

        A dispatch is dated by its case version (`created_at`, simulated time), so the
        answer's delays are counted from when the case was really dispatched."""
        for row in await self.connection.fetch(_NEW_DISPATCHES, since):
            key = (row["case_id"], row["version"], row["level"])
            if key in self.answered:
                continue
            self.answered.add(key)
            self.stats.dispatches += 1
            dispatch = orjson.loads(row["payload"])
            if dispatch.get("deadline") is None:
                self.stats.undated += 1
                continue
            if not row["awaits_acceptance"]:
                self.stats.notices += 1
                continue
            case_id = str(row["case_id"])
            # the actors drop what they planned for an earlier dispatch of the case
            self.generation[case_id] += 1
            for delay_s, value in self.model.respond(dispatch, row["created_at"]):
                self._plan(row["created_at"], delay_s, self.generation[case_id], value)
            if case_id not in self.verified:
                self.verified.add(case_id)
                opening = await self.connection.fetchrow(_OPENING, case_id)
                if opening is not None and opening["role"] == "resident":
                    workers = self.workers[str(dispatch["grid_id"])]
                    # Postgres gives UTC; duty hours are the city's local time
                    opened = opening["opened_at"].astimezone(self.week.start.tzinfo)
                    delay_s, value = self.model.verify(dispatch, opened, workers)
                    self._plan(opened, delay_s, _ALWAYS, value, topics.PATROLS.name)

    def _plan(
        self,
        base: datetime,
        delay_s: float,
        generation: int,
        value: dict[str, Any],
        topic: str = topics.CASE_UPDATES.name,
    ) -> None:
        self.seq += 1
        at = base + timedelta(seconds=delay_s)
        heapq.heappush(self.updates, (at, self.seq, generation, topic, value))

    async def _tick(self, now: datetime) -> None:
        """The leader's SLA tick at a simulated moment; waits until it has been applied."""
        for _ in range(_TICK_ROUNDS):
            grids = await grids_with_timers_due(self.connection, now)
            if not grids:
                return
            futures = []
            for tick in tick_messages(grids, now):
                key = None if tick.key is None else tick.key.encode()
                futures.append(await self.producer.send(tick.topic, tick.value, key=key))
            await asyncio.gather(*futures)
            self.stats.ticks += len(grids)
            deadline = time.monotonic() + _TICK_WAIT_S
            while await self.connection.fetchval(
                "SELECT count(*) FROM cases WHERE is_open AND next_timer_at <= $1 "
                "AND grid_id = ANY($2)",
                now,
                grids,
            ):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
        if await grids_with_timers_due(self.connection, now):
            self.stats.tick_stalls += 1


def _fieldwork(event: SimEvent) -> bool:
    """A grid worker's scan or patrol: what the coverage window is made of."""
    if event.topic == topics.SCANS.name:
        return bool(event.value["scanner_role"] == "grid_worker")
    return event.topic == topics.PATROLS.name


async def play_week(endpoints: Endpoints, city: City, week: Week) -> WeekStats:
    """Play the week against the worker running on `endpoints`; returns what was sent."""
    return await _Player(endpoints, city, week).play()


def stored_snapshots(rows: Sequence[asyncpg.Record]) -> dict[str, dict[str, Any]]:
    """assessments rows by subject id; a plain connection reads jsonb as text."""
    return {
        row["subject_id"]: dict(row) | {"indicators": orjson.loads(row["indicators"])}
        for row in rows
    }


async def stored_days(url: str, days: Sequence[date]) -> dict[date, dict[str, dict[str, Any]]]:
    connection = await asyncpg.connect(url)
    try:
        out = {}
        for day in days:
            rows = await connection.fetch(
                "SELECT subject_kind, subject_id, grid_id, indicators::text AS indicators, "
                "score, grade FROM assessments WHERE day = $1",
                day,
            )
            out[day] = stored_snapshots(rows)
        return out
    finally:
        await connection.close()


async def case_outcomes(url: str) -> dict[str, dict[str, int]]:
    """How the week's cases went: their states at the end, and the steps of their history."""
    connection = await asyncpg.connect(url)
    try:
        states = await connection.fetch("SELECT state, count(*) FROM cases GROUP BY 1")
        steps = await connection.fetch(
            "SELECT split_part(reason, ' ', 1), count(*) FROM case_history GROUP BY 1"
        )
        dead = await connection.fetch("SELECT kind, count(*) FROM dead_letters GROUP BY 1")
    finally:
        await connection.close()
    return {
        "cases by state at the end": {row[0]: row[1] for row in states},
        "case history steps": {row[0]: row[1] for row in steps},
        "dead letters": {row[0]: row[1] for row in dead},
    }


def recompute(endpoints: Endpoints, day: date, key: str) -> list[dict[str, str]]:
    """`civicgrid assess --day D --format csv` against the same services: history alone."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CIVICGRID_")},
        **endpoints.environment(),
        "CIVICGRID_PSEUDONYM_KEY": key,
    }
    done = subprocess.run(
        [sys.executable, "-m", "civicgrid", "assess", "--day", day.isoformat(), "--format", "csv"],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return list(csv.DictReader(io.StringIO(done.stdout.decode())))


def differences(recomputed: Sequence[Mapping[str, str]], stored: Mapping[str, Any]) -> list[str]:
    """Every subject or figure where the recomputation and the stored snapshot disagree.

    The CSV writes Python's `str` of each float, so equal text is the same float."""
    out = []
    subjects = {row["subject_id"] for row in recomputed}
    out += [f"{s}: stored, not recomputed" for s in sorted(set(stored) - subjects)]
    for row in recomputed:
        snapshot = stored.get(row["subject_id"])
        if snapshot is None:
            out.append(f"{row['subject_id']}: recomputed, not stored")
            continue
        pairs = [("score", snapshot["score"]), ("grade", snapshot["grade"])]
        pairs += list(snapshot["indicators"].items())
        for figure, value in pairs:
            text = "" if value is None else str(value)
            if row[figure] != text:
                out.append(f"{row['subject_id']} {figure}: csv {row[figure]!r}, stored {text!r}")
    return out


@dataclass(frozen=True)
class KindSummary:
    subjects: int
    grades: Counter[str]
    """Grade -> subjects; "n/a" for a subject with no valued figure."""
    ranges: dict[str, tuple[float, float, int]]
    """figure -> (min, max, subjects where it has no value)."""
    scores: tuple[float, float] | None


def day_summary(stored: Mapping[str, Mapping[str, Any]], kind: SubjectKind) -> KindSummary:
    chosen = [s for s in stored.values() if s["subject_kind"] == kind.value]
    grades = Counter(s["grade"] or "n/a" for s in chosen)
    ranges: dict[str, tuple[float, float, int]] = {}
    figures = {f for s in chosen for f in s["indicators"]}
    for figure in sorted(figures):
        values = [s["indicators"].get(figure) for s in chosen]
        valued = [v for v in values if v is not None]
        low, high = (min(valued), max(valued)) if valued else (float("nan"), float("nan"))
        ranges[figure] = (low, high, len(values) - len(valued))
    scores = [s["score"] for s in chosen if s["score"] is not None]
    return KindSummary(len(chosen), grades, ranges, (min(scores), max(scores)) if scores else None)


def diligence_of_subjects(city: City, seed: int, key: str) -> dict[str, float]:
    """The simulated diligence of every grid worker, by their assessment subject id."""
    hasher = KeyedHasher(key.encode())
    return {
        f"{grid.grid_id}/{hasher.hash(worker)}": worker_diligence(seed, worker)
        for grid in city.grids
        for worker in grid.worker_ids
    }


def rank_correlation(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Spearman's rho (ties share their mean rank); None when either side has no spread."""
    if len(pairs) < 3:
        return None
    try:
        return statistics.correlation(_ranks([x for x, _ in pairs]), _ranks([y for _, y in pairs]))
    except statistics.StatisticsError:
        return None


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    first = 0
    while first < len(order):
        last = first
        while last + 1 < len(order) and values[order[last + 1]] == values[order[first]]:
            last += 1
        for i in order[first : last + 1]:
            ranks[i] = (first + last) / 2 + 1
        first = last + 1
    return ranks


@dataclass(frozen=True)
class Agreement:
    """How the grid workers' scores order them against their simulated diligence."""

    by_day: dict[date, float | None]
    """Spearman's rho of diligence and the day's score, over the workers graded that day."""
    mean_scores: dict[str, float]
    """Each worker's mean score over the days they were graded."""
    overall: float | None
    """Spearman's rho of diligence and the mean score."""


def diligence_agreement(
    stored: Mapping[date, Mapping[str, Mapping[str, Any]]], diligence: Mapping[str, float]
) -> Agreement:
    by_day: dict[date, float | None] = {}
    scores: dict[str, list[float]] = {}
    for day, rows in stored.items():
        pairs = []
        for subject, row in rows.items():
            if subject in diligence and row["score"] is not None:
                pairs.append((diligence[subject], float(row["score"])))
                scores.setdefault(subject, []).append(float(row["score"]))
        by_day[day] = rank_correlation(pairs)
    means = {subject: statistics.fmean(values) for subject, values in scores.items()}
    overall = rank_correlation([(diligence[s], mean) for s, mean in means.items()])
    return Agreement(by_day, means, overall)
