from datetime import datetime, timedelta, timezone

import pytest

from civicgrid.domain.indicators import (
    CaseOutcome,
    DepartmentTally,
    WorkerTally,
    department_scores,
    grade,
    worker_scores,
    worker_share,
)
from civicgrid.schemas.enums import CaseState

CST = timezone(timedelta(hours=8))


def at(hour: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=CST)


AS_OF = at(18)


def _department() -> DepartmentTally:
    tally = DepartmentTally("drainage", AS_OF)
    for case in (
        CaseOutcome("c1", "drainage", CaseState.CLOSED, at(12), closed_at=at(10)),
        CaseOutcome("c2", "drainage", CaseState.CLOSED, at(12), closed_at=at(14), reworked=True),
        CaseOutcome("c3", "drainage", CaseState.IN_PROGRESS, at(16), extended=True),
        CaseOutcome("c4", "drainage", CaseState.HANDLED, at(20)),
        CaseOutcome("c5", "drainage", CaseState.DISPATCHED, at(9, day=3), supervised=True),
        CaseOutcome("c6", "drainage", CaseState.CANCELLED, at(9)),
        CaseOutcome("c7", "drainage", CaseState.CLOSED, at(9, day=3), closed_at=at(17)),
    ):
        tally.add(case)
    return tally


def test_department_day_by_hand() -> None:
    score = department_scores(_department())
    rates = score.rates
    assert rates["closure_rate"].numerator == ("c1", "c2", "c7")
    assert rates["closure_rate"].denominator == ("c1", "c2", "c3", "c7")
    assert rates["closure_rate"].value == 0.75
    assert rates["on_time_closure_rate"].numerator == ("c1", "c7")
    assert rates["on_time_closure_rate"].value == 0.5
    assert rates["rework_rate"].numerator == ("c2",)
    assert rates["rework_rate"].value == 0.25
    assert rates["overdue_pending_rate"].numerator == ("c3",)
    assert rates["overdue_pending_rate"].denominator == ("c1", "c2", "c3", "c4", "c5", "c7")
    assert rates["overdue_pending_rate"].value == pytest.approx(1 / 6)
    assert rates["handling_rate"].numerator == ("c1", "c2", "c4", "c7")
    assert rates["extension_rate"].numerator == ("c3",)
    assert rates["supervision_rate"].numerator == ("c5",)
    assert rates["supervision_rate"].value == pytest.approx(1 / 6)
    # (0.25*.75 + 0.30*.5 + 0.15*.75 + 0.15*5/6 + 0.10*4/6 + 0.05*5/6 + 0.05*5/6) / 1.05
    # = 0.725 / 1.05 = 0.690476
    assert score.composite == 69.05
    assert score.grade == "C"


def test_department_weights_are_configurable_and_checked() -> None:
    tally = _department()
    assert department_scores(tally, {"closure_rate": 1.0}).composite == 75.0
    with pytest.raises(ValueError, match="unknown"):
        department_scores(tally, {"speed": 1.0})
    with pytest.raises(ValueError, match="belongs"):
        tally.add(CaseOutcome("x", "police", CaseState.CLOSED, at(9)))


def test_department_with_nothing_due_has_no_grade() -> None:
    tally = DepartmentTally("fire", AS_OF)
    tally.add(CaseOutcome("c9", "fire", CaseState.RETURNED, at(9)))
    score = department_scores(tally)
    assert score.rates["closure_rate"].value is None
    assert (score.composite, score.grade) == (None, None)
    assert tally.not_counted == ["c9"]


def test_workers_day_by_hand() -> None:
    w1 = WorkerTally("w1", "G1")
    w1.report("r1", valid=True, self_handled=True)
    w1.report("r2", valid=True)
    w1.report("r3", valid=False)
    w1.report("r4", valid=True)
    for event_id, code in (("s1", "A"), ("s2", "B"), ("s3", "A")):
        w1.scan(event_id, code)
    for k in range(1, 6):
        w1.visit(f"v{k}", f"H{k}")
    w1.public_report("p1", preceded=True)
    w1.public_report("p2", preceded=False)
    w1.verify("vf1", on_time=True)
    w1.verify("vf2", on_time=False)
    w1.check("ck1", on_time=True)
    score = worker_scores(w1, codes=10, households=20)
    rates = score.rates
    assert score.reports_uploaded == ("r1", "r2", "r3", "r4")
    assert rates["valid_report_rate"].value == 0.75
    assert rates["self_handled_rate"].numerator == ("r1",)
    assert rates["self_handled_rate"].value == pytest.approx(1 / 3)
    assert rates["code_coverage"].numerator == ("s1", "s2")
    assert rates["code_coverage"].value == 0.2
    assert rates["household_coverage"].value == 0.25
    assert rates["missed_report_rate"].numerator == ("p2",)
    assert rates["verify_on_time_rate"].value == 0.5
    assert rates["check_on_time_rate"].value == 1.0
    # 0.2*.75 + 0.1/3 + 0.15*.2 + 0.15*.25 + 0.2*.5 + 0.1*.5 + 0.1*1 = 0.500833
    assert score.composite == 50.08
    assert score.grade == "D"

    w2 = WorkerTally("w2", "G2")
    for k in range(10):
        w2.scan(f"s{k}", f"C{k}")
    for k in range(20):
        w2.visit(f"v{k}", f"H{k}")
    score2 = worker_scores(w2, codes=10, households=20)
    # Only the two coverage rates have a denominator; the rest are left out.
    assert score2.rates["valid_report_rate"].value is None
    assert (score2.composite, score2.grade) == (100.0, "A")

    empty = worker_scores(WorkerTally("w3", "G3"), codes=0, households=0)
    assert (empty.composite, empty.grade) == (None, None)


@pytest.mark.parametrize(
    ("size", "workers", "share"), [(10, 1, 10), (10, 2, 5), (7, 2, 4), (0, 2, 0), (6, 0, 6)]
)
def test_a_shared_grid_is_split_evenly_rounding_up(size: int, workers: int, share: int) -> None:
    assert worker_share(size, workers) == share


@pytest.mark.parametrize(
    ("score", "letter"),
    [(100, "A"), (90, "A"), (89.99, "B"), (75, "B"), (60, "C"), (40, "D"), (39.99, "E"), (0, "E")],
)
def test_grade_boundaries(score: float, letter: str) -> None:
    assert grade(score) == letter


def test_escalated_case_is_late_against_its_first_deadline() -> None:
    tally = DepartmentTally("drainage", at(23))
    # breached at 12:00 and escalated with a 20:00 deadline; closed at 15:00
    tally.add(
        CaseOutcome(
            "c1", "drainage", CaseState.CLOSED, at(20), closed_at=at(15), first_deadline=at(12)
        )
    )
    tally.add(CaseOutcome("c2", "drainage", CaseState.CLOSED, at(20), closed_at=at(15)))
    assert tally.to_close == ["c1", "c2"]
    assert tally.closed_on_time == ["c2"]
