"""The household stage (issue 21, docs/households.md): registrations and sightings by person,
reconciled, their findings turned into cases by the grid stage.

Per take of `civic.internal.by-person.v1`: one PostgreSQL transaction stores the take's
registrations and sightings (idempotent: sightings by event id, registrations by source
offset) and marks the persons they touch dirty; then the take is acked. Reconciliation runs
apart, when the input has been quiet for `household_quiet_seconds` or a touched person has
waited `household_max_delay_seconds`: for the dirty persons of the partitions this worker
owns, in chunks, one transaction each: load their state, run the pure
`households.reconcile_person`, store the findings they raise now, and publish a ``finding``
envelope for each finding that changed between raised and withdrawn (awaiting the acks)
before the commit. A crash before the commit leaves the persons dirty: the pass is redone,
and the grid stage skips a finding generation it has applied.

The leader sends a daily sweep to every partition (`sweep_messages`): the silence rules
(应销未销 by absence) change with the calendar, not with an observation.
"""

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import Any

from civicgrid import metrics
from civicgrid.agents.delivery import fail_stop, holding, send_all, with_retry
from civicgrid.db import households as store
from civicgrid.domain.cityview import CityView
from civicgrid.domain.gridwork import by_grid_messages
from civicgrid.domain.householdflow import (
    ResidentItem,
    decode,
    finding_envelopes,
    finding_id,
    finding_row,
    sweep_messages,
    transitions,
)
from civicgrid.domain.households import Finding, Place, reconcile_person, thresholds_for
from civicgrid.errors import StopError
from civicgrid.runtime import Runtime
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)

CHUNK_PERSONS = 500  # persons reconciled per transaction (~0.5 s of the loop's CPU)
_YIELD_EVERY = 100  # persons: the rules run on the event loop, which must keep heartbeating


class Places(Mapping[str, Place]):
    """The registry as the rules read it (code -> kind and grid), without copying it."""

    def __init__(self, city: CityView) -> None:
        self.codes = city.codes

    def __getitem__(self, code: str) -> Place:
        info = self.codes[code]
        return Place(code, info.kind, info.grid_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)


def city_name(city: CityView) -> str:
    """A deployment serves one city: the thresholds are that city's."""
    return next((grid.city for grid in city.grids.values()), "")


class HouseholdStage:
    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.lock = asyncio.Lock()
        self.last_input = 0.0  # monotonic time of the last take written
        self.ingesting = False
        # monotonic: the oldest unreconciled touch; at start, what a predecessor left dirty
        self.dirty_since: float | None = time.monotonic()
        self.last_pass = time.monotonic()
        self.passes = 0

    def owned(self) -> list[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # not started yet
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == topics.BY_PERSON.name)

    async def ingest(self, events: Sequence[Any]) -> None:
        residents: list[tuple[ResidentItem, int]] = []
        sightings: list[tuple[Any, ...]] = []
        sweeps: dict[int, date] = {}
        for event in events:
            message = event.message
            try:
                items = decode([message.value])
            except ValueError:
                log.error(
                    "a by-person record that is not ours; skipped",
                    extra={"partition": message.partition, "offset": message.offset},
                )
                continue
            owner = message.partition
            residents.extend((item, owner) for item in items.residents)
            sightings.extend((*row, owner) for row in items.sightings)
            for day in items.sweeps:
                sweeps[owner] = max(sweeps.get(owner, date.min), date.fromisoformat(day))
        pool = self.runtime.pool
        assert pool is not None

        async def write() -> None:
            async with pool.acquire() as connection, connection.transaction():
                await store.write_residents(connection, residents)
                await store.write_sightings(connection, sightings)
                for partition, day in sorted(sweeps.items()):
                    start = datetime.combine(day, dt_time(), self.runtime.settings.zone)
                    await store.sweep(connection, partition, start)

        self.ingesting = True
        try:
            async with self.lock:
                await with_retry("household stage", write, stalled=self.runtime.stalled)
        finally:
            self.ingesting = False
        self.last_input = time.monotonic()
        if residents or sightings or sweeps:
            self.dirty_since = self.dirty_since or self.last_input

    def due(self, now: float) -> bool:
        """Quiet (no take for a while: behind a backlog a person is reconciled once, with
        everything they have) or a touched person has waited too long."""
        settings = self.runtime.settings
        if self.ingesting:
            return False
        if self.dirty_since is None:
            # now and then even without input: partitions assigned by a rebalance may hold
            # persons their previous owner left dirty
            return now - self.last_pass >= settings.household_max_delay_seconds
        quiet = now - self.last_input >= settings.household_quiet_seconds
        return quiet or now - self.dirty_since >= settings.household_max_delay_seconds

    async def reconcile(self) -> int:
        """Reconcile the dirty persons of the owned partitions; return how many. Takes may
        be written between chunks; a pass ends after the chunks the dirty count at its start
        needs (persons touched meanwhile wait for the next pass)."""
        partitions = self.owned()
        if not partitions:
            return 0
        pool = self.runtime.pool
        assert pool is not None
        done = 0
        started = time.perf_counter()
        self.dirty_since = None

        async def survey() -> tuple[date | None, int]:
            async with pool.acquire() as connection:
                return (
                    await store.observed_since(connection),
                    await store.dirty_count(connection, partitions),
                )

        # the survey waits out an outage like the chunks do (a refused connection here once
        # stopped the worker while PostgreSQL was down)
        since, dirty = await with_retry(
            "household reconciliation", survey, stalled=self.runtime.stalled
        )
        for _ in range(dirty // CHUNK_PERSONS + 1):
            async with self.lock:
                count = await with_retry(
                    "household reconciliation",
                    lambda: self._chunk(partitions, since),
                    stalled=self.runtime.stalled,
                )
            done += count
            if count < CHUNK_PERSONS:
                break
        self.passes += 1
        self.last_pass = time.monotonic()
        metrics.HOUSEHOLD_RECONCILED.inc(done)
        if done:
            log.info(
                "households reconciled",
                extra={"persons": done, "seconds": round(time.perf_counter() - started, 2)},
            )
        return done

    async def _chunk(self, partitions: Sequence[int], since: date | None) -> int:
        pool = self.runtime.pool
        assert pool is not None
        city = self.runtime.city
        places = Places(city)
        thresholds = thresholds_for(city_name(city))
        now = datetime.now(UTC)
        as_of = now.astimezone(self.runtime.settings.zone).date()
        async with pool.acquire() as connection, connection.transaction():
            persons = await store.dirty_persons(connection, partitions, CHUNK_PERSONS)
            if not persons:
                return 0
            state = await store.load_persons(connection, persons)
            rows = []
            touched: dict[str, Finding | None] = {}
            for n, person in enumerate(persons):
                if n and n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                for fid in state.findings.get(person, ()):
                    touched.setdefault(fid, None)
                for finding in reconcile_person(
                    person,
                    state.residents.get(person),
                    state.sightings.get(person, ()),
                    places,
                    as_of,
                    thresholds,
                    state.visits,
                    since,
                ):
                    fid = finding_id(self.runtime.hasher, finding)
                    touched[fid] = finding
                    rows.append(finding_row(person, fid, finding, now))
            await store.write_findings(connection, persons, rows)
            raisers, states = await store.finding_states(connection, list(touched))
            changes = transitions(touched, raisers, states)
            await store.write_transitions(connection, changes, now)
            messages = by_grid_messages(finding_envelopes(changes, now))
            refused = await send_all(self.app, messages)
            if refused:
                raise StopError(f"the broker refused a finding: {refused[0].error!r}")
            await store.mark_reconciled(connection, persons, now)
        for change in changes:
            metrics.HOUSEHOLD_FINDINGS.labels(
                kind=change.kind, action="raised" if change.raised else "withdrawn"
            ).inc()
        return len(persons)


async def send_sweep(app: Any, runtime: Runtime, today: date) -> bool:
    """Today's sweep, once a day (a row per day sent); True if sent now."""
    pool = runtime.pool
    assert pool is not None
    partitions = app.consumer.topic_partitions(topics.BY_PERSON.name)
    if not partitions:
        return False
    async with pool.acquire() as connection:
        if await connection.fetchval("SELECT 1 FROM household_sweeps WHERE day = $1", today):
            return False
        refused = await send_all(app, sweep_messages(partitions, today))
        if refused:
            raise StopError(f"the broker refused the sweep: {refused[0].error!r}")
        await connection.execute(
            "INSERT INTO household_sweeps (day) VALUES ($1) ON CONFLICT DO NOTHING", today
        )
    return True


def register(app: Any, runtime: Runtime) -> HouseholdStage:
    stage = HouseholdStage(app, runtime)
    settings = runtime.settings
    by_person = app.topic(topics.BY_PERSON.name, key_serializer="raw", value_serializer="raw")

    @app.agent(by_person, name="civicgrid.household-stage")
    async def household_stage(stream: Any) -> None:
        await runtime.ready.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            with holding(events):
                try:
                    await stage.ingest(events)
                except Exception:
                    fail_stop("household stage")

    @app.timer(interval=0.5)
    async def household_reconcile() -> None:
        if not runtime.ready.is_set() or runtime.pool is None or app.rebalancing:
            return
        if not stage.due(time.monotonic()):
            return
        try:
            await stage.reconcile()
        except Exception:
            fail_stop("household reconciliation")

    @app.timer(interval=60.0, on_leader=True)
    async def household_sweep() -> None:
        if not runtime.ready.is_set() or runtime.pool is None:
            return
        today = datetime.now(settings.zone).date()
        try:
            if await send_sweep(app, runtime, today):
                log.info("household sweep sent", extra={"day": today.isoformat()})
        except Exception:
            log.exception("household sweep failed; the next check retries")

    return stage
