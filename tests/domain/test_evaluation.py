"""A resident's evaluation of a closed case: 不满意 within the city's window reopens it."""

import uuid
from datetime import datetime, timedelta

import pytest

from civicgrid.domain.authority import refusal
from civicgrid.domain.case import CaseChanged, DispatchGrid, Effect
from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.privacy import KeyedHasher, case_link_actor, protect_event
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.enums import ActorKind, CaseAction, CaseState, Satisfaction, Severity
from civicgrid.schemas.inbound import CaseUpdate

MONDAY = datetime(2025, 9, 22, 9, tzinfo=WorkingCalendar().zone)
A, K, S = CaseAction, ActorKind, CaseState


def closed_book(window: timedelta = timedelta(days=7)) -> CaseBook:
    book = CaseBook(reopen_window=window)
    book.report(
        ReportFacts(
            event_id="e1",
            occurred_at=MONDAY,
            grid_id="G1",
            code="LB-1",
            lat=32.45,
            lon=119.92,
            category="03005",
            severity=Severity.P3,
            departments=("sanitation",),
            limit=TimeLimit.parse("1 working day"),
            reporter_hash="h1",
        ),
        MONDAY,
    )
    book.update("G1~1", A.SELF_HANDLE, K.GRID_WORKER, "u1", MONDAY + timedelta(hours=1))
    book.update("G1~1", A.CHECK_PASS, K.OPERATOR, "u2", MONDAY + timedelta(hours=2))
    return book


def evaluate(book: CaseBook, satisfaction: Satisfaction, after: timedelta) -> list[Effect]:
    at = MONDAY + timedelta(hours=2) + after
    return book.update(
        "G1~1", A.EVALUATE, K.RESIDENT, "u3", at, "还是坏的", satisfaction=satisfaction
    )


def test_dissatisfied_soon_after_closing_reopens_and_redispatches() -> None:
    book = closed_book()
    effects = evaluate(book, Satisfaction.DISSATISFIED, timedelta(days=2))
    states = [e.case.state for e in effects if isinstance(e, CaseChanged)]
    assert states == [S.CLOSED, S.DISPATCHED]
    assert any(isinstance(e, DispatchGrid) for e in effects)
    case = book.get("G1~1")
    assert case is not None
    assert case.evaluation == "dissatisfied"
    assert case.sla_started_at == MONDAY + timedelta(days=2, hours=2)


@pytest.mark.parametrize(
    ("satisfaction", "after", "window"),
    [
        (Satisfaction.DISSATISFIED, timedelta(days=8), timedelta(days=7)),
        (Satisfaction.DISSATISFIED, timedelta(hours=1), timedelta(0)),
        (Satisfaction.BASICALLY_SATISFIED, timedelta(hours=1), timedelta(days=7)),
        (Satisfaction.SATISFIED, timedelta(hours=1), timedelta(days=7)),
    ],
)
def test_other_evaluations_only_record(
    satisfaction: Satisfaction, after: timedelta, window: timedelta
) -> None:
    book = closed_book(window)
    effects = evaluate(book, satisfaction, after)
    assert [e.case.state for e in effects if isinstance(e, CaseChanged)] == [S.CLOSED]
    case = book.get("G1~1")
    assert case is not None
    assert case.evaluation == satisfaction.value


HASHER = KeyedHasher(b"test-key-0123456789abcdef")


def _evaluation(actor_id: str) -> CaseUpdate:
    return CaseUpdate(
        event_id=uuid.uuid4(),
        occurred_at=MONDAY,
        schema_version=1,
        case_id="G1~1",
        actor_id=actor_id,
        actor_kind=K.RESIDENT,
        action=A.EVALUATE,
        satisfaction=Satisfaction.SATISFIED,
    )


def test_only_the_case_link_holder_or_a_reporter_evaluates() -> None:
    """The case page knows no identity: its secret link stands for the reporter, and is
    checked at intake (which holds the key), so a forged or another case's link is refused."""
    case = closed_book().get("G1~1")
    assert case is not None
    own = protect_event(_evaluation(case_link_actor(HASHER, case.case_code)), HASHER)
    assert isinstance(own, CaseUpdate)
    assert refusal(own, None, case) is None

    forged = protect_event(_evaluation(f"case-link:{case.case_code}:guessed"), HASHER)
    other = protect_event(_evaluation(case_link_actor(HASHER, "G1-20250922-00002")), HASHER)
    stranger = protect_event(_evaluation("R-somebody"), HASHER)
    for refused in (forged, other, stranger):
        assert isinstance(refused, CaseUpdate)
        assert refusal(refused, None, case) == "a resident may evaluate only a case they reported"
