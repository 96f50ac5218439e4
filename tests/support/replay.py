"""Recomputing the cases from what Postgres recorded, through the pure case book.

The inputs are the events (reports and case updates, in the order the stage took them) and
the SLA ticks, which leave no event but are recorded in the case history as the versions
their warnings and breaches made. The classifier's verdict on a report (category, severity,
owners, network reasons) is taken as recorded: the replay checks the state machine, not the
classifier.
"""

from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from civicgrid.domain.authority import refusal
from civicgrid.domain.case import Case
from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.gridwork import reclassification
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.schemas.enums import ActorKind, CaseAction, Severity
from civicgrid.schemas.inbound import CaseUpdate
from civicgrid.schemas.internal import Enrichment

TAXONOMY = Taxonomy.default()  # the stack's workers run with no overrides
_SMALL_MATTER = "dispatched: small matter: settled in the grid"
_TIMER_REASONS = ("sla_warning", "sla_breach")

Input = tuple[int, int, datetime, dict[str, Any] | None]  # order, sub-order, tick now, event


async def recompute(url: str) -> tuple[dict[str, Case], dict[str, Case]]:
    """The stored cases and the same cases recomputed from the recorded inputs."""
    connection = await asyncpg.connect(url)
    try:
        events = await connection.fetch(
            """SELECT event_id::text, kind, grid_id, category, severity, actor_hash, case_id,
                      payload::text
               FROM events WHERE kind IN ('report', 'case_update')
               ORDER BY processed_at, topic, partition, "offset" """
        )
        history = await connection.fetch(
            "SELECT case_id, version, reason, event_id::text, changed_at FROM case_history "
            "ORDER BY case_id, version"
        )
        stored = {
            row[0]: Case.from_dict(orjson.loads(row[1]))
            for row in await connection.fetch("SELECT case_id, data::text FROM cases")
        }
    finally:
        await connection.close()

    position = {row["event_id"]: n for n, row in enumerate(events)}
    inputs: dict[str, list[Input]] = defaultdict(list)
    for n, row in enumerate(events):
        inputs[row["grid_id"]].append((n, 0, datetime.min, dict(row)))
    dispatched: dict[str, tuple[str, ...]] = {}
    last_event: dict[str, int] = {}
    for row in history:
        case_id, reason = row["case_id"], row["reason"]
        if row["event_id"] is not None:
            last_event[case_id] = position[row["event_id"]]
        if reason.startswith("dispatched: ") and case_id not in dispatched:
            # the first dispatch names why the case is a network matter
            text = reason.removeprefix("dispatched: ")
            dispatched[case_id] = () if reason == _SMALL_MATTER else tuple(text.split("; "))
        if row["event_id"] is None and reason in _TIMER_REASONS:
            # a tick came after the event behind the case's previous version
            grid_id = stored[case_id].grid_id
            inputs[grid_id].append((last_event[case_id], 1, row["changed_at"], None))

    books: dict[str, CaseBook] = {}
    for grid_id, grid_inputs in inputs.items():
        book = books[grid_id] = CaseBook()
        for _, _, now, event in sorted(grid_inputs, key=lambda i: i[:3]):
            if event is None:
                book.tick(now)
            else:
                _apply(book, event, stored, dispatched)
    replayed = {}
    for case_id, case in stored.items():
        again = books[case.grid_id].get(case_id)
        if again is not None:
            replayed[case_id] = again
    return stored, replayed


def _apply(
    book: CaseBook,
    row: dict[str, Any],
    stored: dict[str, Case],
    dispatched: dict[str, tuple[str, ...]],
) -> None:
    payload = orjson.loads(row["payload"])
    event = payload["event"]
    occurred_at = datetime.fromisoformat(event["occurred_at"])
    if row["kind"] == "case_update":
        # refused as unauthorised when it came in: the stored roster entry refuses it again
        case = book.get(event["case_id"])
        enrichment = payload["enrichment"]
        update = CaseUpdate.model_validate(event, strict=False)
        scope = None if enrichment is None else Enrichment.model_validate(enrichment)
        if case is not None and refusal(update, scope, case) is not None:
            return
        book.update(
            event["case_id"],
            CaseAction(event["action"]),
            ActorKind(event["actor_kind"]),
            row["event_id"],
            occurred_at,
            event.get("note"),
            update.supervision,
            update.satisfaction,
            reclassification(update, TAXONOMY),
        )
        return
    case = stored[row["case_id"]]
    facts = ReportFacts(
        event_id=row["event_id"],
        occurred_at=occurred_at,
        grid_id=row["grid_id"],
        code=event.get("code"),
        lat=event.get("lat"),
        lon=event.get("lon"),
        category=row["category"],
        severity=Severity(row["severity"]),
        departments=case.departments,
        limit=TimeLimit(case.limit.amount, LimitUnit(case.limit.unit)),
        reporter_hash=row["actor_hash"],
        network_reasons=dispatched.get(case.case_id, ()),
        needs_verification=bool(event.get("needs_verification")),
    )
    book.report(facts, occurred_at)
