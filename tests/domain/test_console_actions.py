"""SPEC §10 case-update actions for the operations console (issue 20): verification (核实),
extensions that wait for approval, suspension (挂账) and supervision (督办), in the pure state
machine and case book."""

from dataclasses import replace
from datetime import datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from civicgrid.domain.case import Case, DispatchGrid, DispatchNetwork, Effect, Rejected
from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.lifecycle import TransitionRejected, permitted, transition
from civicgrid.domain.timers import next_timer_at
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.enums import (
    ActorKind,
    CaseAction,
    CaseState,
    DeadLetterKind,
    Severity,
    Supervision,
)
from civicgrid.schemas.inbound import CaseUpdate
from tests.domain.test_casebook import MONDAY, TZ, changes, facts

A, K, S = CaseAction, ActorKind, CaseState


def act(
    book: CaseBook,
    action: CaseAction,
    actor: ActorKind,
    n: int,
    note: str | None = None,
    at: datetime = MONDAY,
    card: Supervision | None = None,
) -> list[Effect]:
    return book.update("G1~1", action, actor, f"u{n}", at, note, card)


def case_of(book: CaseBook) -> Case:
    case = book.get("G1~1")
    assert case is not None
    return case


def test_a_report_marked_for_verification_waits_then_is_verified_and_dispatched() -> None:
    book = CaseBook()
    opened = book.report(replace(facts(), needs_verification=True), MONDAY)
    assert [c.case.state for c in changes(opened)] == [S.REPORTED, S.VERIFYING]
    assert not [e for e in opened if isinstance(e, DispatchGrid | DispatchNetwork)]
    assert next_timer_at(case_of(book), WorkingCalendar()) is None  # no SLA clock yet
    verified_at = MONDAY + timedelta(hours=2)
    effects = act(book, A.VERIFY, K.GRID_WORKER, 1, "现场属实", verified_at)
    assert [c.case.state for c in changes(effects)] == [S.REGISTERED, S.DISPATCHED]
    assert [type(e) for e in effects if isinstance(e, DispatchGrid)] == [DispatchGrid]
    case = case_of(book)
    assert case.sla_started_at == verified_at  # the clock starts when it is verified
    assert case.deadline == datetime(2025, 9, 23, 11, tzinfo=TZ)


def test_a_rejected_report_is_cancelled_with_its_reason() -> None:
    book = CaseBook()
    book.report(replace(facts(), needs_verification=True), MONDAY)
    refused = act(book, A.REJECT, K.OPERATOR, 1)
    assert isinstance(refused[0], Rejected)
    assert "needs its reason" in refused[0].reason
    effects = act(book, A.REJECT, K.OPERATOR, 2, "现场无此问题")
    assert [(c.case.state, c.reason) for c in changes(effects)] == [
        (S.CANCELLED, "reject by operator: 现场无此问题")
    ]


def test_an_extension_waits_for_approval() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)  # 1 working day: Tuesday 09:00
    act(book, A.ACCEPT, K.DEPARTMENT, 1)
    deadline = case_of(book).deadline
    act(book, A.REQUEST_EXTENSION, K.DEPARTMENT, 2, "2 working days")
    case = case_of(book)
    assert (case.deadline, case.extension_requested) == (deadline, "2 working days")
    again = act(book, A.REQUEST_EXTENSION, K.DEPARTMENT, 3, "1 working day")
    assert isinstance(again[0], Rejected)
    assert "already pending" in again[0].reason
    act(book, A.APPROVE_EXTENSION, K.OPERATOR, 4)
    case = case_of(book)
    assert case.deadline == datetime(2025, 9, 25, 9, tzinfo=TZ)
    assert (case.extension_requested, case.extension_count) == (None, 1)
    nothing = act(book, A.APPROVE_EXTENSION, K.OPERATOR, 5)
    assert isinstance(nothing[0], Rejected)
    assert "no extension request is pending" in nothing[0].reason


def test_a_refused_extension_leaves_the_deadline() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    act(book, A.ACCEPT, K.DEPARTMENT, 1)
    deadline = case_of(book).deadline
    act(book, A.REQUEST_EXTENSION, K.DEPARTMENT, 2)  # no length: one more limit
    assert case_of(book).extension_requested == "1 working days"
    act(book, A.REFUSE_EXTENSION, K.OPERATOR, 3, "理由不充分")
    case = case_of(book)
    assert (case.deadline, case.extension_requested, case.extension_count) == (deadline, None, 0)


def test_suspension_stops_the_clock_and_resumption_returns_with_the_time_left() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)  # Monday 09:00, 1 working day
    act(book, A.ACCEPT, K.DEPARTMENT, 1)
    act(book, A.START, K.DEPARTMENT, 2)
    # suspended at 10:00 Monday, 6.5 of its 7.5 working hours left (08:30-12:00, 13:30-17:30):
    # 2 h to noon, 4 h in the afternoon, 0.5 h on Tuesday before its 09:00 deadline
    act(book, A.SUSPEND, K.OPERATOR, 3, "待汛期后施工", MONDAY + timedelta(hours=1))
    case = case_of(book)
    assert (case.state, case.suspended_from) == (S.SUSPENDED, S.IN_PROGRESS)
    assert next_timer_at(case, WorkingCalendar()) is None
    assert book.tick(datetime(2025, 9, 30, 9, tzinfo=TZ)) == []  # a week on: no breach
    accepted = act(book, A.ACCEPT, K.DEPARTMENT, 4, at=MONDAY + timedelta(days=1))
    assert isinstance(accepted[0], Rejected)
    resumed_at = datetime(2025, 9, 29, 8, 30, tzinfo=TZ)  # the next Monday's start
    act(book, A.RESUME, K.OPERATOR, 5, at=resumed_at)
    case = case_of(book)
    assert (case.state, case.suspended_from, case.suspended_at) == (S.IN_PROGRESS, None, None)
    assert case.sla_started_at == resumed_at
    # 6.5 working hours from 08:30: 3.5 h to 12:00, then 3 h from 13:30
    assert case.deadline == datetime(2025, 9, 29, 16, 30, tzinfo=TZ)


def test_supervision_keeps_the_strongest_card_and_raises_priority() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)  # P3
    act(book, A.SUPERVISE, K.OPERATOR, 1, card=Supervision.NORMAL)
    assert (case_of(book).supervision, case_of(book).severity) == (Supervision.NORMAL, Severity.P3)
    act(book, A.SUPERVISE, K.OPERATOR, 2, "请加快处置", card=Supervision.RED)
    act(book, A.SUPERVISE, K.OPERATOR, 3, card=Supervision.YELLOW)
    case = case_of(book)
    assert (case.supervision, case.severity, case.supervision_count) == (
        Supervision.RED,
        Severity.P1,
        3,
    )
    assert case.state is S.DISPATCHED


def test_the_new_state_round_trips_through_storage() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    act(book, A.SUSPEND, K.OPERATOR, 1)
    act(book, A.SUPERVISE, K.OPERATOR, 2, card=Supervision.YELLOW)
    case = case_of(book)
    assert Case.from_dict(orjson.loads(orjson.dumps(case.to_dict()))) == case
    # a case stored before these fields existed still loads
    old = {k: v for k, v in case.to_dict().items() if k not in {"supervision", "suspended_at"}}
    assert Case.from_dict(old).supervision is None


@pytest.mark.parametrize(
    ("action", "kinds"),
    [
        (A.EXTEND, {K.OPERATOR}),
        (A.VERIFY, {K.GRID_WORKER, K.OPERATOR}),
        (A.REJECT, {K.GRID_WORKER, K.OPERATOR}),
        (A.REQUEST_EXTENSION, {K.GRID_WORKER, K.DEPARTMENT}),
        (A.APPROVE_EXTENSION, {K.OPERATOR}),
        (A.REFUSE_EXTENSION, {K.OPERATOR}),
        (A.SUSPEND, {K.OPERATOR}),
        (A.RESUME, {K.OPERATOR}),
        (A.SUPERVISE, {K.OPERATOR}),
    ],
)
def test_who_may_take_each_console_action(action: CaseAction, kinds: set[ActorKind]) -> None:
    assert permitted(action) == kinds


@pytest.mark.parametrize(
    ("state", "action", "actor"),
    [
        (S.DISPATCHED, A.VERIFY, K.OPERATOR),  # only a case held for verification
        (S.VERIFYING, A.ACCEPT, K.DEPARTMENT),  # not dispatched before it is verified
        (S.REGISTERED, A.REQUEST_EXTENSION, K.DEPARTMENT),
        (S.CLOSED, A.SUSPEND, K.OPERATOR),
        (S.VERIFYING, A.SUSPEND, K.OPERATOR),
        (S.IN_PROGRESS, A.RESUME, K.OPERATOR),
        (S.CLOSED, A.SUPERVISE, K.OPERATOR),
    ],
)
def test_console_actions_in_the_wrong_state_are_rejected(
    state: CaseState, action: CaseAction, actor: ActorKind
) -> None:
    with pytest.raises(TransitionRejected, match="not allowed"):
        transition(state, action, actor)


def test_a_card_comes_with_supervise_and_only_there() -> None:
    base = {
        "event_id": "0b5e7a9e-2f6d-4c55-9a39-6c1f2a8e0d11",
        "occurred_at": "2025-09-22T09:00:00+08:00",
        "schema_version": 1,
        "case_id": "G1~1",
        "actor_id": "OP-1",
        "actor_kind": "operator",
    }
    card = CaseUpdate.model_validate_json(
        orjson.dumps(base | {"action": "supervise", "supervision": "red"})
    )
    assert card.supervision is Supervision.RED
    for value in ({"action": "supervise"}, {"action": "cancel", "supervision": "red"}):
        with pytest.raises(ValidationError, match="supervise action"):
            CaseUpdate.model_validate_json(orjson.dumps(base | value))
    with pytest.raises(ValidationError):
        CaseUpdate.model_validate_json(
            orjson.dumps(base | {"action": "supervise", "supervision": "purple"})
        )


def test_a_rejected_step_changes_nothing() -> None:
    book = CaseBook()
    book.report(replace(facts(), needs_verification=True), MONDAY)
    before = case_of(book)
    effects = act(book, A.APPROVE_EXTENSION, K.OPERATOR, 1)
    assert isinstance(effects[0], Rejected)
    assert effects[0].kind is DeadLetterKind.REJECTED_TRANSITION
    assert case_of(book) == before
