"""The grid stage: one PostgreSQL transaction per batch holds the batch's whole effect.

Order per batch: find the event ids already in Postgres (de-duplication with no window
limit), plan the batch in the pure core, write every row, publish every message and wait for
the broker, then commit; Faust acks the offsets only after this returns. A crash anywhere
before the commit rolls back and the batch is delivered again; messages may repeat with the
same (case_id, version), rows never do.
"""

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from civicgrid import metrics
from civicgrid.agents.delivery import fail_stop, holding, send_all, with_retry
from civicgrid.db.households import household_cases, write_household_cases
from civicgrid.db.sink import load_into, seen_event_ids, write_plan
from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.escalation import REPEAT_WINDOW
from civicgrid.domain.gridwork import BatchPlan, ReportVectors, event_of
from civicgrid.domain.refusals import letter_for
from civicgrid.domain.routing import RawRecord, dead_letter
from civicgrid.errors import DeadLetterError, Disposition, StopError, classify, reason
from civicgrid.logs import correlation
from civicgrid.runtime import Runtime
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.inbound import InboundEvent
from civicgrid.schemas.internal import GridBatch, GridEnvelope
from civicgrid.topics import catalogue as topics

log = logging.getLogger(__name__)


# A kept book drops closed cases this long before the newest report seen; a batch that
# reaches further back than what the book still holds reloads its grids.
_KEEP_SETTLED = REPEAT_WINDOW + timedelta(days=1)
_PRUNE_EVERY = 200  # batches
# Encoding costs ~40 ms of CPU per report: a transaction holds at most this many (~1.5 s on
# an idle core), so commits, acks and dispatches keep coming behind a backlog of reports, and
# a stopping worker waits for one encoder call at most.
_REPORTS_PER_COMMIT = 32
# envelopes that name no grid whose cases the batch needs
_NOT_A_GRID = frozenset({"dead_letter", "watermark"})
_GRID_LATENCY = metrics.STAGE_LATENCY.labels(stage="grid")  # observed once per event


class GridStage:
    """Keeps the case book of the grids it owns between batches.

    While this worker owns a grid's partition it is the only writer of that grid's cases, so
    after a committed batch the book equals PostgreSQL and the next batch needs no reads but
    its de-duplication. Before docs/performance.md's change every batch re-read the versions
    of all open and recent cases of its grids and rebuilt their indexes: a fixed cost that
    grew with the cases and dominated small batches. The book is dropped whenever that
    equality may not hold: a failed batch (the book may hold its uncommitted changes) and
    every rebalance (a grid may have been written by another worker meanwhile).
    """

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.batches = 0
        self.forget()

    def forget(self) -> None:
        reopen = timedelta(days=self.runtime.settings.reopen_on_dissatisfied_days)
        self.book = CaseBook(self.runtime.calendar, reopen)
        # grid -> the book holds its cases updated since then (None: only its open cases)
        self.held_since: dict[str, datetime | None] = {}
        self.newest_report: datetime | None = None

    async def process(self, envelopes: Sequence[GridEnvelope]) -> None:
        """Process a batch. A failure of the services is waited out (`with_retry`); one
        that dead-letters (`civicgrid.errors.classify`) splits the batch, so only the
        envelope at fault becomes a dead letter; one that stops is raised."""
        try:
            await with_retry(
                "grid stage",
                lambda: self._commit(envelopes),
                self._down,
                self.runtime.stalled,
            )
        except Exception as error:
            if classify(error) is Disposition.STOP:
                raise
            if len(envelopes) == 1:
                await self._quarantine(envelopes[0], reason(error))
                return
            log.exception("batch failed; processing its events one by one")
            for envelope in envelopes:
                await self.process([envelope])

    def _down(self) -> None:
        self.runtime.sink_up = False
        metrics.SINK_UP.set(0)
        metrics.SINK_FAILURES.inc()

    async def _commit(self, envelopes: Sequence[GridEnvelope]) -> None:
        pool = self.runtime.pool
        assert pool is not None
        started = time.perf_counter()
        events = [e for e in map(event_of, envelopes) if e is not None]
        grid_ids = {e.grid_id for e in envelopes if e.kind not in _NOT_A_GRID}
        case_ids = {e.case_update.case_id for e in envelopes if e.case_update is not None}
        finding_ids = [e.finding.finding_id for e in envelopes if e.finding is not None]
        horizon = _repeat_horizon(envelopes)
        book = self.book
        embedded = await self._embed(envelopes)
        try:
            async with pool.acquire() as connection, connection.transaction():
                seen = await seen_event_ids(connection, [str(e.event_id) for e in events])
                # household findings (issue 21): the cases they opened, to join or withdraw
                findings = await household_cases(connection, finding_ids)
                case_ids |= {case for case, _ in findings.values() if case is not None}
                await self._complete(connection, book, grid_ids, case_ids, horizon)
                plan = self.runtime.work.plan(envelopes, seen, book, embedded, findings)
                sequences = {g: s for g, s in book.sequences.items() if g in grid_ids}
                written = await write_plan(connection, plan, sequences, book.calendar)
                written["household_cases"] = await write_household_cases(
                    connection, plan.household_cases
                )
                refused = await send_all(self.app, plan.messages)
                if refused:  # rolled back; the split finds the envelope whose output it is
                    raise DeadLetterError(f"output refused: {reason(refused[0].error)}")
        except BaseException:
            self.forget()
            raise
        self._keep(envelopes)
        self.runtime.sink_up = True
        metrics.SINK_UP.set(1)
        self._observe(plan, written, time.perf_counter() - started, events)

    async def _embed(self, envelopes: Sequence[GridEnvelope]) -> list[ReportVectors]:
        """The reports' vectors, before the transaction and in the encoder's threads: no
        connection is held and the event loop keeps serving while the reports are read.
        With several encoder threads the reports are shared out among them."""
        loop = asyncio.get_running_loop()
        threads = self.runtime.settings.encoder_threads
        parts = [envelopes[i::threads] for i in range(threads)]
        try:
            done = await asyncio.gather(
                *(
                    loop.run_in_executor(self.runtime.encoding, self.runtime.work.embed, part)
                    for part in parts
                    if part
                )
            )
        except RuntimeError as error:
            # A stopping worker has shut its encoder down: the batch is not at fault and must
            # not be dead-lettered; it stays unacked for the next owner.
            if self.runtime.stopping:
                raise StopError("the worker is stopping: its encoder is shut down") from error
            raise
        return [vectors for part in done for vectors in part]

    async def _complete(
        self,
        connection: Any,
        book: CaseBook,
        grid_ids: set[str],
        case_ids: set[str],
        horizon: datetime | None,
    ) -> None:
        """Load what the batch needs and the book lacks: grids it has not held since the
        batch's horizon, and cases named by updates that it does not hold."""
        grids = [g for g in grid_ids if not self._holds(g, horizon)]
        named = [c for c in case_ids if book.get(c) is None]
        if not grids and not named:
            return
        await load_into(connection, book, grids, named, horizon)
        for grid_id in grids:
            self.held_since[grid_id] = horizon

    def _holds(self, grid_id: str, horizon: datetime | None) -> bool:
        if grid_id not in self.held_since:
            return False
        since = self.held_since[grid_id]
        return horizon is None or (since is not None and since <= horizon)

    def _keep(self, envelopes: Sequence[GridEnvelope]) -> None:
        """After a commit: note the newest report, and now and then drop settled cases."""
        times = [e.report.occurred_at for e in envelopes if e.report is not None]
        if times and (self.newest_report is None or max(times) > self.newest_report):
            self.newest_report = max(times)
        self.batches += 1
        if self.batches % _PRUNE_EVERY or self.newest_report is None:
            return
        before = self.newest_report - _KEEP_SETTLED
        self.book.forget_settled(before)
        # a grid held from `since` now holds only from `before`; one held with its open
        # cases alone (None) still holds just those
        for grid_id, since in self.held_since.items():
            if since is not None and since < before:
                self.held_since[grid_id] = before

    def _observe(
        self,
        plan: BatchPlan,
        written: dict[str, int],
        seconds: float,
        events: Sequence[InboundEvent],
    ) -> None:
        metrics.SINK_BATCH_SECONDS.observe(seconds)
        metrics.SINK_BATCH_ROWS.observe(sum(written.values()))
        for table, rows in written.items():
            metrics.SINK_ROWS.labels(table=table).inc(rows)
        for classification in plan.classifications:
            metrics.CLASSIFICATIONS.labels(
                category=classification.category, severity=classification.severity.value
            ).inc()
        for name, count in plan.counts.items():
            kind, _, rest = name.partition(":")
            if kind == "duplicate":
                metrics.DUPLICATES.labels(topic=rest).inc(count)
            elif kind == "dead_letter":
                topic, _, dl_kind = rest.rpartition(":")
                metrics.DEAD_LETTERS.labels(topic=topic, kind=dl_kind).inc(count)
            elif kind == "unauthorised_scan":
                metrics.UNAUTHORISED_SCANS.inc(count)
            elif kind == "unauthorised_update":
                actor_kind, _, action = rest.partition(":")
                metrics.UNAUTHORISED_UPDATES.labels(actor_kind=actor_kind, action=action).inc(count)
            elif kind == "unknown_code":
                metrics.UNKNOWN_CODES.labels(topic=rest).inc(count)
            elif kind == "state":
                metrics.CASE_TRANSITIONS.labels(state=rest).inc(count)
            elif kind == "dispatch":
                metrics.DISPATCHES.labels(level=rest).inc(count)
            elif kind == "withdrawal":
                metrics.DISPATCH_WITHDRAWALS.inc(count)
            elif kind == "correction":
                wrong, _, right = rest.partition(":")
                metrics.CLASSIFICATION_CORRECTIONS.labels(
                    from_category=wrong, to_category=right
                ).inc(count)
            elif kind == "escalation":
                reason, _, level = rest.partition(":")
                metrics.ESCALATIONS.labels(reason=reason, level=level).inc(count)
            elif kind == "alert":
                metrics.ALERTS.labels(kind=rest).inc(count)
                if rest.startswith("sla_"):
                    metrics.SLA_EVENTS.labels(kind=rest.removeprefix("sla_")).inc(count)
        for failed in plan.timer_failures:
            metrics.SLA_TIMER_FAILURES.inc()
            with correlation(failed.case_id):
                log.error("SLA timer of a case failed", extra={"error": failed.error})
        now = datetime.now(UTC)
        for event in events:
            _GRID_LATENCY.observe(max((now - event.occurred_at).total_seconds(), 0.0))

    async def _quarantine(self, envelope: GridEnvelope, why: str) -> None:
        """The envelope itself makes processing fail: it becomes a dead letter, alone."""
        with correlation(correlation_id(envelope)):
            log.exception("event failed in the grid stage; dead-lettered")
            await self._dead_letter(envelope, why)

    async def _dead_letter(self, envelope: GridEnvelope, why: str) -> None:
        """Its dead letter, committed; one whose output the broker refuses too is cut again
        (`refusals.letter_for`: to the last resort's few KB) before the worker gives up."""
        letter = letter_for(envelope, f"grid stage: {why}")
        for _ in range(2):
            if letter is None:  # a tick: nothing to dead-letter, the next tick retries
                return
            try:
                await with_retry(
                    "dead-lettering",
                    partial(self._commit, [letter]),
                    self._down,
                    self.runtime.stalled,
                )
                return
            except DeadLetterError as refused:
                log.error("the broker refused a dead letter; cutting its original", exc_info=True)
                letter = letter_for(letter, f"grid stage: {reason(refused)}")
        raise StopError("the broker refuses even a dead letter cut to a few KB")


def correlation_id(envelope: GridEnvelope) -> str:
    """The event's id; an envelope without an event (a dead letter from intake, a tick) is
    named by its origin's place in the log or by its grid."""
    event = event_of(envelope)
    if event is not None:
        return str(event.event_id)
    if envelope.origin is not None:
        origin = envelope.origin
        return f"{origin.topic}:{origin.partition}:{origin.offset}"
    return f"{envelope.kind}:{envelope.grid_id}"


def _repeat_horizon(envelopes: Sequence[GridEnvelope]) -> datetime | None:
    """How far back the batch's reports need their points' cases, closed ones included: a
    repeat point counts the reports of the 7 days before each report. None without reports."""
    times = [e.report.occurred_at for e in envelopes if e.report is not None]
    return min(times) - REPEAT_WINDOW if times else None


def decode(message: Any) -> list[GridEnvelope]:
    """A record's envelopes. Only civicgrid writes the internal topic, but a foreign record
    must not stop us: it becomes a dead letter."""
    try:
        return list(GridBatch.model_validate_json(message.value).envelopes)
    except ValueError as batch_error:
        try:  # written before the internal topic carried batches
            return [GridEnvelope.model_validate_json(message.value)]
        except ValueError:
            record = RawRecord(
                message.topic,
                message.partition,
                message.offset,
                None,
                message.key,
                message.value,
                (),
            )
            reason = f"internal record: {batch_error}"
            return [dead_letter(record, DeadLetterKind.SCHEMA, reason)]


def register(app: Any, runtime: Runtime) -> GridStage:
    stage = GridStage(app, runtime)

    @app.on_partitions_revoked.connect
    async def forget_on_rebalance(sender: Any, revoked: Any, **kwargs: Any) -> None:
        stage.forget()

    settings = runtime.settings
    by_grid = app.topic(topics.BY_GRID.name, key_serializer="raw", value_serializer="raw")

    @app.agent(by_grid, name="civicgrid.grid-stage")
    async def grid_stage(stream: Any) -> None:
        await runtime.ready.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            # decoded chunk by chunk: behind a backlog a take holds many records of hundreds
            # of envelopes each. The records are acked after the last chunk: a crash re-reads
            # them all and the chunks already committed are recognised by their event ids.
            envelopes = (e for event in events for e in decode(event.message))
            with holding(events):
                try:
                    for chunk in _report_bounded(envelopes, settings.batch_size):
                        await stage.process(chunk)
                except Exception:
                    fail_stop("grid stage")

    return stage


def _report_bounded(envelopes: Iterable[GridEnvelope], size: int) -> Iterator[list[GridEnvelope]]:
    """Batches of at most `size` envelopes holding at most _REPORTS_PER_COMMIT reports."""
    batch: list[GridEnvelope] = []
    reports = 0
    for envelope in envelopes:
        batch.append(envelope)
        reports += envelope.report is not None
        if len(batch) == size or reports == _REPORTS_PER_COMMIT:
            yield batch
            batch, reports = [], 0
    if batch:
        yield batch
