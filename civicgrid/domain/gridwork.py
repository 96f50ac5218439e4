"""The grid stage as a pure function: a batch of grid envelopes in, rows and messages out.

The agent that calls it only loads the case book, writes the rows in one transaction and
publishes the messages; every decision is made here, deterministically from event times, so
a replayed batch produces the same rows and the same case versions.
"""

import base64
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from civicgrid.domain import escalation as rules
from civicgrid.domain.authority import refusal
from civicgrid.domain.case import (
    Case,
    CaseChanged,
    Corrected,
    DispatchGrid,
    DispatchNetwork,
    Effect,
    Rejected,
    RepeatPoint,
    SlaAlert,
    TimerFailed,
    Withdrawn,
)
from civicgrid.domain.casebook import JOINED, CaseBook, Reclassification, ReportFacts
from civicgrid.domain.classifier import Classification, Classifier, Neighbour
from civicgrid.domain.embedding import Matrix
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.scoring import CountKey, count_key
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import AlertKind, CaseAction, DeadLetterKind, Role
from civicgrid.schemas.inbound import CaseUpdate, InboundEvent, Patrol, Report, Scan
from civicgrid.schemas.internal import GridBatch, GridEnvelope, Origin
from civicgrid.schemas.outbound import (
    Alert,
    CaseSnapshot,
    DeadLetter,
    GridDispatch,
    NetworkDispatch,
    Window,
)
from civicgrid.topics import catalogue as topics


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str | None
    value: bytes
    partition: int | None = None  # None: the key's partition


# the placeholder of a snapshot not (or not yet) published; see BatchPlan.case_changed
_FOLDED = Message(topics.CASES.name, None, b"")

# Household cross-check findings (issue 21) open cases of this category, "reported" by
# the reconciliation itself; their report ids are derived from the finding and generation.
HOUSEHOLD_CATEGORY = "L0103"
HOUSEHOLD_REPORTER = "household-check"
_FINDINGS = uuid.UUID("6f1d2c3a-8b4e-5f60-9a7b-0c1d2e3f4a5b")

# A record of the internal topic stays under this many bytes: well inside the producer's
# 1 MB request limit. An envelope alone can be larger (a dead letter carrying a 900 KB value
# was 1.2 MB): the broker refuses it, and the intake sends its dead letter with the original
# cut instead (civicgrid/domain/refusals.py).
MAX_BATCH_RECORD_BYTES = 256 * 1024


def watermark_messages(partitions: int, watermark: datetime) -> list[Message]:
    """One ``watermark`` envelope to each partition of the by-grid topic: a partition's grid
    stage reaches it only after every record sent to that partition before it."""
    return [
        Message(
            topics.BY_GRID.name,
            None,
            GridBatch(
                envelopes=(
                    GridEnvelope(
                        kind="watermark",
                        grid_id=f"~watermark/{partition}",
                        partition=partition,
                        watermark=watermark,
                    ),
                )
            )
            .model_dump_json()
            .encode(),
            partition,
        )
        for partition in range(partitions)
    ]


def by_grid_messages(envelopes: Iterable[GridEnvelope]) -> list[Message]:
    """The internal topic's records for `envelopes`: per grid, its envelopes in order, in as
    few `GridBatch` records as the size limit allows."""
    by_grid: dict[str, list[bytes]] = {}
    for envelope in envelopes:
        by_grid.setdefault(envelope.grid_id, []).append(envelope.model_dump_json().encode())
    # the GridBatch JSON, joined from the envelopes' own: dumping it again would cost as much
    return [
        Message(topics.BY_GRID.name, grid_id, b'{"envelopes":[' + b",".join(chunk) + b"]}")
        for grid_id, parts in by_grid.items()
        for chunk in _sized_runs(parts, MAX_BATCH_RECORD_BYTES)
    ]


def _sized_runs(parts: list[bytes], limit: int) -> Iterable[list[bytes]]:
    """Consecutive runs of `parts` of at most `limit` bytes each (a larger part runs alone)."""
    run: list[bytes] = []
    size = 0
    for part in parts:
        if run and size + len(part) > limit:
            yield run
            run, size = [], 0
        run.append(part)
        size += len(part) + 1
    if run:
        yield run


@dataclass(frozen=True, slots=True)
class ReportVectors:
    """What the classifier computes from one report's vectors (`Classifier.encode`: the
    vectors of `Classifier.texts` and the nearest labelled examples), made by the shell in
    its encoder threads, so the plan on the event loop does no vector work."""

    event_id: str
    vectors: Matrix
    nearest: tuple[Neighbour, ...] | None = None  # None: searched in the plan


@dataclass
class BatchPlan:
    """What one batch does to Postgres and to the output topics."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    duplicates: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letters: list[tuple[Any, ...]] = field(default_factory=list)
    cases: dict[str, Case] = field(default_factory=dict)  # the last version of each case
    history: list[tuple[Any, ...]] = field(default_factory=list)
    dispatches: list[tuple[Any, ...]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)
    audits: list[tuple[Any, ...]] = field(default_factory=list)
    corrections: list[tuple[Any, ...]] = field(default_factory=list)  # reclassifications
    update_audits: list[tuple[Any, ...]] = field(default_factory=list)  # refused updates
    messages: list[Message] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    classifications: list[Classification] = field(default_factory=list)
    # reports per grid x category x event-time window, added to series_counts (SPEC §7)
    series_counts: Counter[CountKey] = field(default_factory=Counter)
    # by-grid partition -> the latest watermark envelope it delivered in the batch
    watermarks: dict[int, datetime] = field(default_factory=dict)
    timer_failures: list[TimerFailed] = field(default_factory=list)  # logged by the stage
    # a joined report's snapshot, by case: its place in `messages`, filled when the batch
    # ends unless a later version of the case replaces it (docs/contract.md)
    joined: dict[str, tuple[int, Case]] = field(default_factory=dict)
    # household findings applied (issue 21): household_cases rows
    household_cases: list[tuple[Any, ...]] = field(default_factory=list)

    def case_changed(self, case: Case, folds: bool) -> None:
        """Queue the case's snapshot for civic.cases.v1. A version that only joined a report
        (`folds`) is published only if it is the case's last in the batch: a hot point's
        2,000 joins would otherwise publish 2,000 snapshots of a growing list of reports."""
        replaced = self.joined.pop(case.case_id, None)
        if replaced is not None:
            self.messages[replaced[0]] = _FOLDED
        if folds:
            self.joined[case.case_id] = (len(self.messages), case)
            self.messages.append(_FOLDED)
        else:
            self.messages.append(_message(topics.CASES.name, case.case_id, _snapshot(case)))

    def finish(self) -> None:
        for at, case in self.joined.values():
            self.messages[at] = _message(topics.CASES.name, case.case_id, _snapshot(case))
        self.joined.clear()
        self.messages = [m for m in self.messages if m is not _FOLDED]


def event_of(envelope: GridEnvelope) -> InboundEvent | None:
    return envelope.scan or envelope.report or envelope.patrol or envelope.case_update


# who acted in each kind of event; looked up by type because a probe for a missing field
# goes through pydantic's __getattr__ and an exception, per event
_ACTOR_FIELD: dict[type, str] = {
    Report: "reporter_id",
    Scan: "scanner_id",
    Patrol: "worker_id",
    CaseUpdate: "actor_id",
}


def _actor(event: InboundEvent) -> str:
    return str(getattr(event, _ACTOR_FIELD[type(event)]))


class GridWork:
    """The per-batch planner; holds what is fixed for the worker's lifetime."""

    def __init__(
        self, classifier: Classifier, taxonomy: Taxonomy, hasher: KeyedHasher | None = None
    ) -> None:
        """`hasher` keys the operator ids of corrections, which are kept as training data
        apart from the case record; without one they are stored as the event holds them."""
        self.classifier = classifier
        self.taxonomy = taxonomy
        self.hasher = hasher

    def embed(self, envelopes: Iterable[GridEnvelope]) -> list[ReportVectors]:
        """The classifier's vector work for the batch's reports, in one batch (one encoder
        call, one nearest-example product): the expensive part of classifying, which the
        shell runs in a thread before the plan."""
        reports = [e.report for e in envelopes if e.report is not None]
        encoded = self.classifier.encode([report.description for report in reports])
        return [
            ReportVectors(str(report.event_id), item.vectors, item.nearest)
            for report, item in zip(reports, encoded, strict=True)
        ]

    def classify(
        self, envelope: GridEnvelope, vectors: ReportVectors | None = None
    ) -> Classification | None:
        report = envelope.report
        if report is None:
            return None
        kind = envelope.enrichment.kind if envelope.enrichment else None
        return self.classifier.classify(
            report.description,
            category_hint=report.category_hint,
            element_kind=kind,
            vectors=vectors.vectors if vectors is not None else None,
            nearest=vectors.nearest if vectors is not None else None,
        )

    def _counted_category(self, envelope: GridEnvelope, classification: Classification) -> str:
        """The series a report counts in: the category the resident picked in the app, when
        they picked one, else the classifier's.

        The classifier reads free text and confuses neighbouring categories (占道经营 and
        店外经营 read alike); a resident's own pick names what they saw. A wave of one problem
        then lands in one series instead of being split across lookalikes, which at city
        densities is the difference between a burst and noise. The case still takes the
        classifier's category: it routes work, and the hint is only advice there.
        """
        report = envelope.report
        hint = report.category_hint if report is not None else None
        return hint if hint is not None and hint in self.taxonomy else classification.category

    def plan(
        self,
        envelopes: Iterable[GridEnvelope],
        already_seen: set[str],
        book: CaseBook,
        embedded: Iterable[ReportVectors] = (),
        findings: Mapping[str, tuple[str | None, int]] | None = None,
    ) -> BatchPlan:
        """`embedded`: the reports' vectors from `embed`; a report without them is encoded
        here, at the encoder's cost. `findings`: for the batch's household findings, the
        case each opened and the last generation applied (`household_cases`)."""
        plan = BatchPlan()
        seen = set(already_seen)
        vectors = {item.event_id: item for item in embedded}
        applied = dict(findings or {})
        for envelope in envelopes:
            if envelope.kind == "dead_letter":
                self._dead_letter_from_intake(plan, envelope)
            elif envelope.kind == "finding":
                self._finding(plan, envelope, book, applied)
            elif envelope.kind == "cluster":
                assert envelope.now is not None
                assert envelope.category is not None
                effects = book.cluster_alert(envelope.grid_ids, envelope.category, envelope.now)
                self._apply(plan, effects, None, envelope)
            elif envelope.kind == "watermark":
                assert envelope.partition is not None
                assert envelope.watermark is not None
                known = plan.watermarks.get(envelope.partition, envelope.watermark)
                plan.watermarks[envelope.partition] = max(known, envelope.watermark)
            elif envelope.kind == "tick":
                assert envelope.now is not None
                self._apply(plan, book.tick(envelope.now, (envelope.grid_id,)), None, envelope)
            else:
                self._event(plan, envelope, seen, book, vectors)
        plan.finish()
        return plan

    def _finding(
        self,
        plan: BatchPlan,
        envelope: GridEnvelope,
        book: CaseBook,
        applied: dict[str, tuple[str | None, int]],
    ) -> None:
        """A household finding raised opens an L0103 case for the police, or joins the open
        case of its key; one withdrawn cancels that case. Each change applies once, in
        generation order: a replayed or older one is skipped."""
        finding = envelope.finding
        now = envelope.now
        assert finding is not None
        assert now is not None
        case_id, generation = applied.get(finding.finding_id, (None, 0))
        if finding.generation <= generation:
            plan.counts["finding:replayed"] += 1
            return
        event_id = str(uuid.uuid5(_FINDINGS, f"{finding.finding_id}:{finding.generation}"))
        case = None if case_id is None else book.get(case_id)
        effects: list[Effect] = []
        if finding.raised and case is not None and case.state.is_open:
            plan.counts["finding:joined"] += 1
        elif finding.raised:
            effects = book.open_finding(self._finding_facts(envelope, event_id), now)
            opened = next(e.case for e in effects if isinstance(e, CaseChanged))
            case_id = opened.case_id
            plan.counts["finding:opened"] += 1
        elif case is not None:
            reason = f"household finding withdrawn ({finding.kind}): {finding.rule}"
            effects = book.withdraw(case.case_id, now, reason, event_id)
            plan.counts["finding:withdrawn"] += 1
        applied[finding.finding_id] = (case_id, finding.generation)
        plan.household_cases.append(
            (
                finding.finding_id,
                case_id,
                envelope.grid_id,
                finding.kind,
                finding.raised,
                finding.generation,
                now,
            )
        )
        self._apply(plan, effects, event_id, envelope)

    def _finding_facts(self, envelope: GridEnvelope, event_id: str) -> ReportFacts:
        finding = envelope.finding
        assert finding is not None
        assert envelope.now is not None
        category = self.taxonomy.get(HOUSEHOLD_CATEGORY)
        return ReportFacts(
            event_id=event_id,
            occurred_at=envelope.now,
            grid_id=envelope.grid_id,
            code=finding.finding_id,
            lat=None,
            lon=None,
            category=category.code,
            severity=category.severity,
            departments=category.departments,
            limit=category.limit,
            reporter_hash=HOUSEHOLD_REPORTER,
            # the police station acts on it: a linkage task to the lead department
            network_reasons=(f"household cross-check: {finding.kind}",),
            resident=False,
        )

    def _event(
        self,
        plan: BatchPlan,
        envelope: GridEnvelope,
        seen: set[str],
        book: CaseBook,
        vectors: dict[str, ReportVectors],
    ) -> None:
        event = event_of(envelope)
        origin = envelope.origin
        assert event is not None
        assert origin is not None
        event_id = str(event.event_id)
        if event_id in seen:
            plan.duplicates.append((origin.topic, origin.partition, origin.offset, event.event_id))
            plan.counts[f"duplicate:{origin.topic}"] += 1
            return
        seen.add(event_id)
        classification = self.classify(envelope, vectors.get(event_id))
        effects: list[Effect] = []
        if classification is not None:
            plan.classifications.append(classification)
            counted = self._counted_category(envelope, classification)
            plan.series_counts[count_key(envelope.grid_id, counted, event.occurred_at)] += 1
            effects = book.report(self._facts(envelope, classification), event.occurred_at)
        elif envelope.case_update is not None:
            effects = self._update(plan, envelope, envelope.case_update, book)
        elif envelope.scan is not None and _unauthorised(envelope):
            plan.audits.append(
                (
                    event.event_id,
                    envelope.scan.scanner_id,
                    envelope.scan.code,
                    envelope.grid_id,
                    event.occurred_at,
                    "grid worker scanned a code outside the grids assigned to them",
                )
            )
            plan.counts["unauthorised_scan"] += 1
        case_id = self._apply(plan, effects, event_id, envelope)
        enrichment = envelope.enrichment
        plan.events.append(
            (
                event.event_id,
                envelope.kind,
                origin.topic,
                origin.partition,
                origin.offset,
                envelope.grid_id,
                getattr(event, "code", None),
                bool(enrichment and enrichment.unknown_code),
                _actor(event),
                classification.category if classification else None,
                classification.severity.value if classification else None,
                case_id,
                event.occurred_at,
                origin.published_at,
                # JSON fragments: pydantic writes the JSON once, the jsonb encoder embeds it
                {
                    "event": orjson.Fragment(event.model_dump_json()),
                    "enrichment": orjson.Fragment(enrichment.model_dump_json())
                    if enrichment
                    else None,
                },
            )
        )
        plan.counts[f"processed:{origin.topic}"] += 1
        if enrichment is not None and enrichment.unknown_code:
            plan.counts[f"unknown_code:{origin.topic}"] += 1

    def _update(
        self, plan: BatchPlan, envelope: GridEnvelope, update: CaseUpdate, book: CaseBook
    ) -> list[Effect]:
        """Authorise the update against the actor's roster entry, then apply it; a refusal is
        a dead letter `unauthorised` and an audit row, and leaves the case as it was."""
        event_id = str(update.event_id)
        case = book.get(update.case_id)
        why = None if case is None else refusal(update, envelope.enrichment, case)
        if why is None:
            unknown = update.category is not None and update.category not in self.taxonomy
            if case is not None and unknown:
                reason = f"case {update.case_id}: unknown category {update.category}"
                return [Rejected(event_id, reason, DeadLetterKind.REJECTED_TRANSITION)]
            return book.update(
                update.case_id,
                update.action,
                update.actor_kind,
                event_id,
                update.occurred_at,
                update.note,
                update.supervision,
                update.satisfaction,
                reclassification(update, self.taxonomy),
            )
        plan.update_audits.append(
            (
                update.event_id,
                update.actor_id,
                update.actor_kind.value,
                update.case_id,
                envelope.grid_id,
                update.action.value,
                update.occurred_at,
                why,
            )
        )
        plan.counts[f"unauthorised_update:{update.actor_kind.value}:{update.action.value}"] += 1
        return [Rejected(event_id, f"case {update.case_id}: {why}", DeadLetterKind.UNAUTHORISED)]

    def _correction_row(self, envelope: GridEnvelope, corrected: Corrected) -> tuple[Any, ...]:
        update = envelope.case_update
        assert update is not None
        case = corrected.case
        actor = update.actor_id if self.hasher is None else self.hasher.hash(update.actor_id)
        return (
            update.event_id,
            case.case_id,
            corrected.report_event_id,
            corrected.from_category,
            case.category,
            corrected.from_severity.value,
            case.severity.value,
            actor,
            corrected.at,
        )

    def _facts(self, envelope: GridEnvelope, classification: Classification) -> ReportFacts:
        report = envelope.report
        assert report is not None
        category = self.taxonomy.get(classification.category)
        return ReportFacts(
            event_id=str(report.event_id),
            occurred_at=report.occurred_at,
            grid_id=envelope.grid_id,
            code=report.code,
            lat=report.lat,
            lon=report.lon,
            category=classification.category,
            severity=classification.severity,
            departments=classification.departments,
            limit=category.limit,
            reporter_hash=report.reporter_id,
            network_reasons=_network_reasons(classification),
            resident=report.reporter_role is Role.RESIDENT,
            needs_verification=report.needs_verification,
        )

    def _apply(
        self,
        plan: BatchPlan,
        effects: list[Effect],
        event_id: str | None,
        envelope: GridEnvelope,
    ) -> str | None:
        """Turn effects into rows and messages; return the case the event joined, if any."""
        joined: str | None = None
        for effect in effects:
            match effect:
                case CaseChanged(case=case, reason=reason, event_id=cause):
                    joined = joined or (case.case_id if cause == event_id else None)
                    plan.cases[case.case_id] = case
                    plan.history.append(
                        (
                            case.case_id,
                            case.version,
                            case.state.value,
                            case.level.value,
                            reason,
                            cause,
                            case.updated_at,
                            _head(case),
                        )
                    )
                    plan.case_changed(case, folds=reason == JOINED)
                    plan.counts[f"state:{case.state.value}"] += 1
                case DispatchGrid(case=case):
                    _add_grid_task(plan, case, None)
                    plan.counts["dispatch:grid"] += 1
                case DispatchNetwork(case=case, reason=reason, lead_department=lead):
                    _add_network_task(plan, case, reason, lead, effect.co_departments, False)
                    plan.counts["dispatch:network"] += 1
                    plan.counts[f"escalation:{_reason_label(reason)}:{case.level.value}"] += 1
                case Withdrawn(case=old, reason=reason):
                    # on the topic and under the key the task was given on, so its
                    # consumers read the withdrawal after the task
                    if old.network:
                        lead, *co = old.departments
                        _add_network_task(plan, old, reason, lead, tuple(co), True)
                    else:
                        _add_grid_task(plan, old, reason)
                    plan.counts["withdrawal"] += 1
                case Corrected(case=case, from_category=wrong):
                    plan.corrections.append(self._correction_row(envelope, effect))
                    plan.counts[f"correction:{wrong}:{case.category}"] += 1
                case SlaAlert(case=case, kind=kind, observed=observed, expected=expected):
                    alert = Alert(
                        kind=kind,
                        grid_id=case.grid_id,
                        category=case.category,
                        observed=observed,
                        expected=expected,
                        score=observed / expected if expected else observed,
                        window=Window(start=case.sla_started_at, end=case.deadline),
                    )
                    alert_id = f"{kind.value}:{case.case_id}:{case.level.value}:{case.version}"
                    add_alert(plan, alert_id, alert)
                case RepeatPoint(case=case, event_id=cause):
                    # the crossing report names the alert: a replay alerts with the same id
                    add_alert(plan, f"repeat_point:{case.case_id}:{cause}", _repeat_alert(effect))
                case Rejected(reason=reason, kind=kind):
                    self._dead_letter(plan, envelope, kind, reason)
                case TimerFailed():
                    plan.timer_failures.append(effect)
        return joined

    def _dead_letter(
        self, plan: BatchPlan, envelope: GridEnvelope, kind: DeadLetterKind, message: str
    ) -> None:
        """A valid event the case machine refused: its masked JSON is the dead letter's value."""
        event = event_of(envelope)
        assert envelope.origin is not None
        assert event is not None
        value = event.model_dump_json().encode()
        _add_dead_letter(plan, envelope.origin, kind, message, value, None, event.event_id)

    def _dead_letter_from_intake(self, plan: BatchPlan, envelope: GridEnvelope) -> None:
        body = envelope.dead_letter
        assert body is not None
        assert envelope.origin is not None
        value = None if body.value is None else base64.b64decode(body.value)
        key = None if body.key is None else base64.b64decode(body.key).decode("utf-8", "replace")
        _add_dead_letter(plan, envelope.origin, body.kind, body.message, value, key, None)


def _add_grid_task(plan: BatchPlan, case: Case, withdrawn: str | None) -> None:
    """The grid's task for `case`; `withdrawn`: the reason it is taken back."""
    task = GridDispatch(
        case_id=case.case_id,
        case_code=case.case_code,
        grid_id=case.grid_id,
        category=case.category,
        severity=case.severity,
        deadline=case.deadline,
        withdrawn=withdrawn is not None,
    )
    plan.dispatches.append(_dispatch_row(case, "grid", withdrawn, task))
    plan.messages.append(_message(topics.DISPATCH_GRID.name, case.grid_id, task))


def _add_network_task(
    plan: BatchPlan,
    case: Case,
    reason: str,
    lead: str,
    co: tuple[str, ...],
    withdrawn: bool,
) -> None:
    task = NetworkDispatch(
        case_id=case.case_id,
        case_code=case.case_code,
        grid_id=case.grid_id,
        category=case.category,
        severity=case.severity,
        level=case.level,
        lead_department=lead,
        co_departments=co,
        reason=reason,
        deadline=case.deadline,
        withdrawn=withdrawn,
    )
    plan.dispatches.append(_dispatch_row(case, "network", reason, task))
    plan.messages.append(_message(topics.DISPATCH_NETWORK.name, case.case_id, task))


def reclassification(update: CaseUpdate, taxonomy: Taxonomy) -> Reclassification | None:
    """What a `reclassify` update gives its case, from the taxonomy (None: another action)."""
    if update.action is not CaseAction.RECLASSIFY or update.category is None:
        return None
    category = taxonomy.get(update.category)
    return Reclassification(
        category=category.code,
        category_severity=category.severity,
        departments=category.departments,
        limit=category.limit,
        severity=update.severity,
    )


def add_alert(plan: BatchPlan, alert_id: str, alert: Alert) -> None:
    """A row in ``alerts`` (idempotent on the deterministic id) and a message on the topic."""
    plan.alerts.append(_alert_row(alert_id, list(alert.grid_ids or (alert.grid_id,)), alert))
    plan.messages.append(_message(topics.ALERTS.name, alert.grid_id, alert))
    plan.counts[f"alert:{alert.kind.value}"] += 1


def _repeat_alert(point: RepeatPoint) -> Alert:
    """SPEC §7 repeat point: observed is the point's reports in its 7 days (across its
    cases), expected the rule's minimum."""
    case = point.case
    observed = float(len(point.event_ids))
    return Alert(
        kind=AlertKind.REPEAT_POINT,
        grid_id=case.grid_id,
        grid_ids=(case.grid_id,),
        category=case.category,
        observed=observed,
        expected=float(rules.REPEAT_THRESHOLD),
        score=observed / rules.REPEAT_THRESHOLD,
        window=Window(start=point.window_start, end=point.window_end),
    )


def _add_dead_letter(
    plan: BatchPlan,
    origin: Origin,
    kind: DeadLetterKind,
    message: str,
    value: bytes | None,
    key: str | None,
    event_id: Any,
) -> None:
    letter = DeadLetter.of(
        value=value,
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        kind=kind,
        message=message,
    )
    plan.dead_letters.append(
        (origin.topic, origin.partition, origin.offset, kind.value, message, event_id)
    )
    plan.messages.append(Message(topics.DEADLETTER.name, key, letter.model_dump_json().encode()))
    plan.counts[f"dead_letter:{origin.topic}:{kind.value}"] += 1


def _unauthorised(envelope: GridEnvelope) -> bool:
    return envelope.enrichment is not None and envelope.enrichment.authorised is False


def _network_reasons(classification: Classification) -> tuple[str, ...]:
    return tuple(r for r in classification.reasons if r.startswith("network:"))


def _reason_label(reason: str) -> str:
    """A bounded metric label for a free-text escalation reason."""
    for label in (
        "P1",
        "several owners",
        "repeat",
        "cluster",
        "SLA breach",
        "returned",
        "reworked",
    ):
        if label.lower() in reason.lower():
            return label.lower().replace(" ", "_")
    return "other"


def _head(case: Case) -> dict[str, Any]:
    """A history row's snapshot: the case's snapshot but its reports, so that a row costs
    the same for a case's 2,000th report as for its first (a full snapshot per joined report
    made 2,004 history rows of 77 MB). Each row names its report (`event_id`)."""
    return _snapshot(case, with_reports=False).model_dump(mode="json", exclude={"event_ids"})


def _snapshot(case: Case, with_reports: bool = True) -> CaseSnapshot:
    return CaseSnapshot(
        case_id=case.case_id,
        case_code=case.case_code,
        version=case.version,
        state=case.state,
        level=case.level,
        category=case.category,
        severity=case.severity,
        grid_id=case.grid_id,
        departments=case.departments,
        deadline=case.deadline,
        event_ids=case.event_ids if with_reports else (),
        duplicate_count=case.duplicate_count,
        updated_at=case.updated_at,
    )


def _message(topic: str, key: str, model: Any) -> Message:
    return Message(topic, key, model.model_dump_json().encode())


def _dispatch_row(
    case: Case, level: str, reason: str | None, task: GridDispatch | NetworkDispatch
) -> tuple[Any, ...]:
    return (
        case.case_id,
        case.version,
        level,
        reason,
        case.updated_at,
        task.model_dump(mode="json"),
        task.withdrawn,
    )


def _alert_row(alert_id: str, grid_ids: list[str], alert: Alert) -> tuple[Any, ...]:
    return (
        alert_id,
        alert.kind.value,
        grid_ids,
        alert.category,
        alert.observed,
        alert.expected,
        alert.score,
        alert.window.start,
        alert.window.end,
        alert.model_dump(mode="json"),
    )
