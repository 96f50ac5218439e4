from dataclasses import replace
from datetime import datetime, timedelta

from civicgrid.domain.case import (
    CaseChanged,
    DispatchGrid,
    DispatchNetwork,
    Effect,
    Rejected,
    RepeatPoint,
    SlaAlert,
)
from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from schemas.enums import (
    ActorKind,
    AlertKind,
    CaseAction,
    CaseState,
    DeadLetterKind,
    Level,
    Severity,
)

A, K, S = CaseAction, ActorKind, CaseState
TZ = WorkingCalendar().zone
MONDAY = datetime(2025, 9, 22, 9, tzinfo=TZ)


def facts(n: int = 1, **changes: object) -> ReportFacts:
    base = ReportFacts(
        event_id=f"e{n}",
        occurred_at=MONDAY,
        grid_id="G1",
        code="LB-1",
        lat=32.45,
        lon=119.92,
        category="03005",
        severity=Severity.P3,
        departments=("sanitation",),
        limit=TimeLimit.parse("1 working day"),
        reporter_hash=f"h{n}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def changes(effects: list[Effect]) -> list[CaseChanged]:
    return [e for e in effects if isinstance(e, CaseChanged)]


def last_state(book: CaseBook, case_id: str = "G1~1") -> CaseState:
    case = book.get(case_id)
    assert case is not None
    return case.state


def step(
    book: CaseBook,
    action: CaseAction,
    actor: ActorKind,
    n: int,
    note: str | None = None,
    at: datetime = MONDAY,
) -> list[Effect]:
    return book.update("G1~1", action, actor, f"u{n}", at, note)


def test_small_matter_is_self_handled_and_closed() -> None:
    book = CaseBook()
    opened = book.report(facts(), MONDAY)
    assert [c.case.state for c in changes(opened)] == [S.REPORTED, S.REGISTERED, S.DISPATCHED]
    assert [c.case.version for c in changes(opened)] == [1, 2, 3]
    dispatch = opened[-1]
    assert isinstance(dispatch, DispatchGrid)
    assert dispatch.case.case_code == "G1-20250922-00001"
    assert dispatch.case.level is Level.GRID
    step(book, A.SELF_HANDLE, K.GRID_WORKER, 1)
    step(book, A.CHECK_PASS, K.OPERATOR, 2)
    assert last_state(book) is S.CLOSED
    step(book, A.EVALUATE, K.RESIDENT, 3, "满意")
    closed = book.get("G1~1")
    assert closed is not None
    assert closed.evaluation == "满意"
    assert closed.version == 6


def test_dispatched_handled_checked_closed_with_rework() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    step(book, A.ACCEPT, K.DEPARTMENT, 1)
    step(book, A.START, K.DEPARTMENT, 2)
    handled = step(book, A.HANDLE, K.DEPARTMENT, 3)
    assert [c.case.state for c in changes(handled)] == [S.HANDLED, S.CHECKING]
    step(book, A.CHECK_FAIL, K.GRID_WORKER, 4)
    assert last_state(book) is S.IN_PROGRESS
    step(book, A.HANDLE, K.DEPARTMENT, 5)
    step(book, A.CHECK_PASS, K.GRID_WORKER, 6)
    case = book.get("G1~1")
    assert case is not None
    assert (case.state, case.rework_count, case.level) == (S.CLOSED, 1, Level.GRID)
    reopened = step(book, A.REOPEN, K.OPERATOR, 7)
    assert last_state(book) is S.DISPATCHED
    assert isinstance(reopened[-1], DispatchGrid)


def test_second_rework_escalates_to_the_network() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    for n in (1, 2):
        step(book, A.ACCEPT if n == 1 else A.START, K.DEPARTMENT, 10 * n)
        step(book, A.HANDLE, K.DEPARTMENT, 10 * n + 1)
        effects = step(book, A.CHECK_FAIL, K.GRID_WORKER, 10 * n + 2)
    dispatch = effects[-1]
    assert isinstance(dispatch, DispatchNetwork)
    assert dispatch.reason == "reworked 2 times"
    assert (dispatch.case.state, dispatch.case.level) == (S.ESCALATED, Level.STREET)


def test_return_redispatches_then_escalates() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    first = step(book, A.RETURN, K.DEPARTMENT, 1, "not ours")
    assert [c.case.state for c in changes(first)] == [S.RETURNED, S.DISPATCHED]
    assert isinstance(first[-1], DispatchGrid)
    step(book, A.ACCEPT, K.DEPARTMENT, 2)
    second = step(book, A.RETURN, K.DEPARTMENT, 3)
    assert [c.case.state for c in changes(second)] == [S.RETURNED, S.ESCALATED]
    assert isinstance(second[-1], DispatchNetwork)
    assert second[-1].case.escalation_reasons == ("returned 2 times",)


def test_p1_goes_straight_to_the_network() -> None:
    book = CaseBook()
    effects = book.report(
        facts(severity=Severity.P1, departments=("drainage", "police"), network_reasons=("P1",)),
        MONDAY,
    )
    dispatch = effects[-1]
    assert isinstance(dispatch, DispatchNetwork)
    assert (dispatch.lead_department, dispatch.co_departments) == ("drainage", ("police",))
    assert dispatch.case.level is Level.STREET
    assert dispatch.case.network
    assert dispatch.reason == "P1"


def test_overdue_climbs_two_rungs_and_timers_fire_once() -> None:
    book = CaseBook()
    book.report(facts(limit=TimeLimit.parse("2 h")), MONDAY)
    assert book.tick(MONDAY + timedelta(minutes=90)) == []
    warned = book.tick(MONDAY + timedelta(minutes=100))
    assert [e.kind for e in warned if isinstance(e, SlaAlert)] == [AlertKind.SLA_WARNING]
    assert book.tick(MONDAY + timedelta(minutes=110)) == []
    breach_at = MONDAY + timedelta(hours=2)
    breached = book.tick(breach_at)
    assert [e.kind for e in breached if isinstance(e, SlaAlert)] == [AlertKind.SLA_BREACH]
    assert isinstance(breached[-1], DispatchNetwork)
    case = book.get("G1~1")
    assert case is not None
    assert (case.level, case.deadline) == (Level.COMMUNITY, breach_at + timedelta(hours=2))
    assert book.tick(breach_at + timedelta(minutes=1)) == []
    book.tick(breach_at + timedelta(hours=2))
    case = book.get("G1~1")
    assert case is not None
    assert case.level is Level.STREET
    assert case.escalation_reasons == (
        "SLA breach at the grid rung",
        "SLA breach at the community rung",
    )


def test_extension_moves_the_deadline() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)  # 1 working day: Tuesday 09:00
    step(book, A.ACCEPT, K.DEPARTMENT, 1)
    step(book, A.EXTEND, K.DEPARTMENT, 2, "2 working days")
    case = book.get("G1~1")
    assert case is not None
    assert case.deadline == datetime(2025, 9, 25, 9, tzinfo=TZ)
    assert book.tick(datetime(2025, 9, 23, 10, tzinfo=TZ)) == []


def test_duplicates_join_by_code_or_nearby_category() -> None:
    book = CaseBook()
    book.report(facts(1), MONDAY)
    book.report(facts(2, code=None, lat=32.451), MONDAY)  # about 111 m away
    joined = book.report(facts(3, reporter_hash="h1", code="LB-1"), MONDAY)
    case = book.get("G1~1")
    assert case is not None
    assert case.event_ids == ("e1", "e2", "e3")
    assert (case.duplicate_count, case.reporter_count) == (2, 2)
    # The third report in 7 days makes a repeat point: onto the network.
    assert isinstance(joined[-1], DispatchNetwork)
    assert joined[-1].reason == "repeat point: 3 reports in 7 days"
    assert book.report(facts(3), MONDAY) == []  # a redelivered report changes nothing


def test_a_repeat_point_counts_reports_near_the_report_not_near_the_case() -> None:
    book = CaseBook()
    north, south = {"code": None, "lat": 32.452}, {"code": None, "lat": 32.448}  # 222 m off
    book.report(facts(1, code=None), MONDAY)
    book.report(facts(2, **north), MONDAY)  # joins: within 250 m of the case's first report
    third = book.report(facts(3, **south), MONDAY)  # joins too, but 444 m from report 2
    case = book.get("G1~1")
    assert case is not None
    assert case.event_ids == ("e1", "e2", "e3")
    assert not any(isinstance(e, RepeatPoint | DispatchNetwork) for e in third)
    fourth = book.report(facts(4, **south), MONDAY)  # reports 1, 3 and 4 are one point
    (point,) = [e for e in fourth if isinstance(e, RepeatPoint)]
    assert (point.event_ids, point.reporters) == (("e1", "e3", "e4"), 3)


def test_no_join_far_away_late_other_category_or_closed() -> None:
    book = CaseBook()
    book.report(facts(1), MONDAY)
    book.report(facts(2, code=None, lat=32.46), MONDAY)  # about 1.1 km
    book.report(facts(3, occurred_at=MONDAY + timedelta(days=8)), MONDAY + timedelta(days=8))
    book.report(facts(4, category="07001"), MONDAY)
    assert [book.get(f"G1~{n}") is not None for n in (2, 3, 4)] == [True, True, True]
    book.update("G1~1", A.CANCEL, K.OPERATOR, "u1", MONDAY, None)
    book.report(facts(5), MONDAY)
    assert book.get("G1~5") is not None
    assert book.sequences == {"G1": 5}


def test_invalid_updates_never_change_a_case() -> None:
    book = CaseBook()
    book.report(facts(), MONDAY)
    before = book.get("G1~1")
    unknown = book.update("G9~1", A.ACCEPT, K.DEPARTMENT, "u1", MONDAY, None)
    assert unknown == [Rejected("u1", "unknown case G9~1", DeadLetterKind.UNKNOWN_CASE)]
    for action, actor in [(A.CLOSE, K.OPERATOR), (A.START, K.DEPARTMENT), (A.CANCEL, K.RESIDENT)]:
        (rejected,) = step(book, action, actor, 2)
        assert isinstance(rejected, Rejected)
        assert rejected.kind is DeadLetterKind.REJECTED_TRANSITION
    step(book, A.ACCEPT, K.DEPARTMENT, 3)
    (stale,) = step(book, A.ACCEPT, K.DEPARTMENT, 4)
    assert isinstance(stale, Rejected)
    assert "ACCEPTED" in stale.reason
    after = book.get("G1~1")
    assert before is not None
    assert after is not None
    assert after.version == before.version + 1


def test_cluster_alert_lifts_grid_matters() -> None:
    book = CaseBook()
    book.report(facts(1), MONDAY)
    book.report(facts(2, grid_id="G2"), MONDAY)
    effects = book.cluster_alert(["G2", "G1"], "03005", MONDAY)
    dispatches = [e for e in effects if isinstance(e, DispatchNetwork)]
    assert [d.case.case_id for d in dispatches] == ["G1~1", "G2~1"]
    assert dispatches[0].reason == "cluster alert: 03005 across grids G1, G2"
    assert book.cluster_alert(["G1", "G2"], "03005", MONDAY) == []


def run_day(book: CaseBook) -> list[Effect]:
    out = book.report(facts(1), MONDAY)
    out += book.report(facts(2, severity=Severity.P1, code="X", category="01002"), MONDAY)
    out += book.update("G1~1", A.ACCEPT, K.DEPARTMENT, "u1", MONDAY, None)
    out += book.tick(MONDAY + timedelta(hours=3))
    out += book.update("G1~2", A.RETURN, K.DEPARTMENT, "u2", MONDAY, None)
    return out


def test_replay_is_deterministic_and_books_reload() -> None:
    first, second = CaseBook(), CaseBook()
    assert run_day(first) == run_day(second)
    cases = [c for c in (first.get("G1~1"), first.get("G1~2")) if c is not None]
    reloaded = CaseBook.from_cases(cases, first.sequences)
    opened = reloaded.report(facts(9, code="Y", category="07001"), MONDAY)
    assert changes(opened)[0].case.case_id == "G1~3"
