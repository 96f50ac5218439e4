"""An operator's `reclassify` (issue 17, SPEC §10): the case takes the corrected category's
owners, severity and time limit, the old owners' task is withdrawn, the new owners get theirs,
and the correction is kept as a labelled example; in the pure case book and the planner."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from civicgrid.domain import escalation as rules
from civicgrid.domain.case import (
    Case,
    Corrected,
    DispatchGrid,
    DispatchNetwork,
    Effect,
    Rejected,
    Withdrawn,
)
from civicgrid.domain.casebook import CaseBook, Reclassification
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.lifecycle import permitted
from civicgrid.domain.routing import RawRecord, route
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.schemas.enums import (
    ActorKind,
    CaseAction,
    CaseState,
    DeadLetterKind,
    Level,
    Severity,
    Supervision,
)
from civicgrid.schemas.inbound import CaseUpdate
from civicgrid.schemas.outbound import GridDispatch, NetworkDispatch
from civicgrid.topics import catalogue as topics
from tests.domain.test_authority import HASHER, city  # noqa: F401 - the fixture
from tests.domain.test_casebook import MONDAY, changes, facts

A, K, S = CaseAction, ActorKind, CaseState
TAXONOMY = Taxonomy.default()
LATER = MONDAY + timedelta(hours=1)
REPORT = str(uuid.uuid4())


def to(code: str, severity: Severity | None = None) -> Reclassification:
    category = TAXONOMY.get(code)
    return Reclassification(code, category.severity, category.departments, category.limit, severity)


def reclassify(
    book: CaseBook, target: Reclassification, at: datetime = LATER, note: str | None = None
) -> list[Effect]:
    return book.update("G1~1", A.RECLASSIFY, K.OPERATOR, "u-re", at, note, reclassification=target)


def case_of(book: CaseBook) -> Case:
    case = book.get("G1~1")
    assert case is not None
    return case


def litter_bin() -> CaseBook:
    """G1~1: a litter bin (03005, sanitation, P3), a small matter DISPATCHED to the grid."""
    book = CaseBook()
    book.report(facts(event_id=REPORT), MONDAY)
    return book


def test_a_grid_matter_reclassified_as_urgent_goes_to_the_network_its_grid_task_withdrawn() -> None:
    book = litter_bin()
    before = case_of(book)
    effects = reclassify(book, to("01002"), note="其实是井盖")
    after = case_of(book)
    assert [type(e) for e in effects] == [
        type(changes(effects)[0]),
        Withdrawn,
        DispatchNetwork,
        Corrected,
    ]
    assert after.state is S.DISPATCHED  # the new owners accept it anew
    assert (after.category, after.severity, after.departments) == (
        "01002",
        Severity.P1,
        ("drainage",),
    )
    assert after.network
    assert after.level is rules.NETWORK_FLOOR
    assert after.limit == TimeLimit.parse("2 h")
    assert (after.sla_started_at, after.deadline) == (LATER, LATER + timedelta(hours=2))
    withdrawn = next(e for e in effects if isinstance(e, Withdrawn))
    assert withdrawn.case == before  # the task as the sanitation grid was given it
    dispatched = next(e for e in effects if isinstance(e, DispatchNetwork))
    assert dispatched.lead_department == "drainage"
    history = changes(effects)[0].reason
    assert "03005/P3 -> 01002/P1" in history
    assert "其实是井盖" in history
    corrected = next(e for e in effects if isinstance(e, Corrected))
    assert (corrected.from_category, corrected.from_severity) == ("03005", Severity.P3)
    assert corrected.report_event_id == REPORT  # the report whose text is the example


def test_a_false_p1_corrected_to_an_ordinary_category_comes_back_to_the_grid() -> None:
    # the most common error of the classifier: an ordinary report raised to P1
    book = CaseBook()
    urgent = facts(
        category="01002",
        severity=Severity.P1,
        departments=("drainage",),
        limit=TimeLimit.parse("2 h"),
    )
    book.report(urgent, MONDAY)
    assert case_of(book).network
    effects = reclassify(book, to("01037"))
    after = case_of(book)
    assert (after.network, after.level, after.escalation_reasons) == (False, Level.GRID, ())
    assert after.severity is Severity.P3
    withdrawn = [e for e in effects if isinstance(e, Withdrawn)]
    assert [w.case.network for w in withdrawn] == [True]  # taken back from the network
    assert [type(e) for e in effects if isinstance(e, DispatchGrid | DispatchNetwork)] == [
        DispatchGrid
    ]


def test_a_reason_from_what_happened_to_the_case_survives_the_correction() -> None:
    book = CaseBook()
    for n in (1, 2, 3):  # three residents report the same bin: a repeat point
        book.report(facts(n), MONDAY + timedelta(minutes=n))
    assert rules.REPEAT_REASON in case_of(book).escalation_reasons
    reclassify(book, to("06010"))  # exposed garbage: P3, one owner
    after = case_of(book)
    assert after.escalation_reasons == (rules.REPEAT_REASON,)
    assert after.network
    assert after.level is rules.NETWORK_FLOOR


def test_the_severity_given_wins_over_the_category_default_but_not_over_a_red_card() -> None:
    book = litter_bin()
    reclassify(book, to("06010", Severity.P2))
    assert case_of(book).severity is Severity.P2
    carded = litter_bin()
    carded.update("G1~1", A.SUPERVISE, K.OPERATOR, "u-card", LATER, None, Supervision.RED)
    reclassify(carded, to("06010", Severity.P3), LATER + timedelta(minutes=1))
    assert case_of(carded).severity is Severity.P1  # the 督办 card keeps its floor


def test_a_case_awaiting_verification_is_reclassified_without_a_dispatch() -> None:
    book = CaseBook()
    book.report(replace(facts(), needs_verification=True), MONDAY)
    effects = reclassify(book, to("06010"))
    assert case_of(book).state is S.VERIFYING
    assert case_of(book).category == "06010"
    assert [type(e) for e in effects][1:] == [Corrected]  # no task was out, none goes out
    verified = book.update("G1~1", A.VERIFY, K.GRID_WORKER, "u-v", LATER, "属实")
    task = next(e for e in verified if isinstance(e, DispatchGrid))
    assert task.case.limit == TimeLimit.parse("4 working hours")  # the corrected category's


def test_a_new_report_of_the_corrected_category_joins_the_reclassified_case() -> None:
    book = litter_bin()
    reclassify(book, to("06010"))
    joined = book.report(facts(2, category="06010", event_id="e2"), LATER)
    assert next(c.case.case_id for c in changes(joined)) == "G1~1"
    assert case_of(book).duplicate_count == 1


@pytest.mark.parametrize(
    ("prepare", "target", "reason"),
    [
        (None, to("03005"), "already in category 03005"),
        (None, to("03005", Severity.P3), "already in category 03005 at P3"),
        (A.CANCEL, to("06010"), "not allowed in state CANCELLED"),
    ],
)
def test_a_reclassification_that_corrects_nothing_or_comes_too_late_is_refused(
    prepare: CaseAction | None, target: Reclassification, reason: str
) -> None:
    book = litter_bin()
    if prepare is not None:
        book.update("G1~1", prepare, K.OPERATOR, "u-0", LATER)
    before = case_of(book)
    (refused,) = reclassify(book, target, LATER + timedelta(minutes=1))
    assert isinstance(refused, Rejected)
    assert refused.kind is DeadLetterKind.REJECTED_TRANSITION
    assert reason in refused.reason
    assert case_of(book) == before


def test_only_operators_reclassify() -> None:
    assert permitted(A.RECLASSIFY) == frozenset({K.OPERATOR})


def _update(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": LATER.isoformat(),
        "schema_version": 1,
        "case_id": "G1~1",
        "actor_id": "OP-city",
        "actor_kind": "operator",
        "action": "reclassify",
    } | fields


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "category is given with the reclassify action"),
        ({"action": "cancel", "category": "06010"}, "category is given with the reclassify"),
        ({"action": "cancel", "severity": "P1"}, "severity is given only with the reclassify"),
        ({"category": "6010"}, "String should match pattern"),
        ({"category": "06010", "severity": "P0"}, "Input should be"),
    ],
)
def test_the_schema_wants_a_category_with_reclassify_and_only_there(
    fields: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        CaseUpdate.model_validate_json(orjson.dumps(_update(**fields)))


def test_the_json_schema_states_the_rule() -> None:
    schema = CaseUpdate.model_json_schema()
    assert schema["then"] == {
        "required": ["category"],
        "properties": {"category": {"type": "string"}},
    }
    assert "reclassify" in schema["$defs"]["CaseAction"]["enum"]


def _envelope(city_view: Any, actor: str, kind: str, **fields: Any) -> Any:
    value = _update(actor_id=actor, actor_kind=kind, **fields)
    record = RawRecord(topics.CASE_UPDATES.name, 0, 7, None, b"G1~1", orjson.dumps(value), ())
    return route(record, city_view, HASHER, LATER)


def test_the_plan_withdraws_on_the_old_topic_dispatches_on_the_new_and_keeps_the_example(
    city: Any,  # noqa: F811 - the fixture
) -> None:
    work = GridWork(Classifier.default(TAXONOMY), TAXONOMY, HASHER)
    book = litter_bin()
    envelope = _envelope(city, "OP-city", "operator", category="01002", note="井盖")
    plan = work.plan([envelope], set(), book)
    grid = [m for m in plan.messages if m.topic == topics.DISPATCH_GRID.name]
    network = [m for m in plan.messages if m.topic == topics.DISPATCH_NETWORK.name]
    withdrawal = GridDispatch.model_validate_json(grid[0].value)
    assert (withdrawal.withdrawn, withdrawal.category, grid[0].key) == (True, "03005", "G1")
    task = NetworkDispatch.model_validate_json(network[0].value)
    assert (task.withdrawn, task.category, task.lead_department) == (False, "01002", "drainage")
    assert [row[-1] for row in plan.dispatches] == [True, False]
    (row,) = plan.corrections
    assert row[1:7] == ("G1~1", REPORT, "03005", "01002", "P3", "P1")
    assert row[7] == HASHER.hash("OP-city")  # training data: the operator by keyed hash
    assert plan.counts["correction:03005:01002"] == 1
    assert plan.counts["withdrawal"] == 1


@pytest.mark.parametrize(
    ("actor", "kind", "category", "dead_letter"),
    [
        ("OP-city", "operator", "09999", DeadLetterKind.REJECTED_TRANSITION),
        ("D-san", "department", "06010", DeadLetterKind.UNAUTHORISED),
        ("W-1", "grid_worker", "06010", DeadLetterKind.UNAUTHORISED),
        ("OP-west", "operator", "06010", DeadLetterKind.UNAUTHORISED),  # not their community
    ],
)
def test_a_reclassify_from_outside_the_operators_or_to_no_category_is_a_dead_letter(
    city: Any,  # noqa: F811 - the fixture
    actor: str,
    kind: str,
    category: str,
    dead_letter: DeadLetterKind,
) -> None:
    work = GridWork(Classifier.default(TAXONOMY), TAXONOMY, HASHER)
    book = litter_bin()
    before = book.get("G1~1")
    plan = work.plan([_envelope(city, actor, kind, category=category)], set(), book)
    assert [row[3] for row in plan.dead_letters] == [dead_letter.value]
    assert plan.corrections == []
    assert plan.dispatches == []
    assert book.get("G1~1") == before
