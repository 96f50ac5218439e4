"""One case whose SLA timer cannot be computed must not stop its grid's other timers."""

from datetime import datetime, timedelta, timezone

from civicgrid.domain.case import SlaAlert, TimerFailed
from civicgrid.domain.casebook import CaseBook, ReportFacts
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.schemas.enums import AlertKind, Severity

TAIZHOU = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 4, 10, tzinfo=TAIZHOU)


def facts(event_id: str, at: datetime, lat: float) -> ReportFacts:
    return ReportFacts(
        event_id=event_id,
        occurred_at=at,
        grid_id="G1",
        code=None,
        lat=lat,
        lon=119.9,
        category="06010",
        severity=Severity.P3,
        departments=("sanitation",),
        limit=TimeLimit.parse("1 working day"),
        reporter_hash="h:1",
    )


def test_a_case_from_1900_costs_its_own_timer_not_the_grids() -> None:
    """`no working time within 3660 days of 1900-01-01` on every tick of the grid, and a case
    six days overdue in that grid never breached."""
    book = CaseBook()
    long_ago = datetime(1900, 1, 1, tzinfo=TAIZHOU)
    book.report(
        facts("e-1900", long_ago, 32.40), long_ago
    )  # the grid stage opens at the event's time
    six_days = NOW - timedelta(days=6)
    book.report(facts("e-late", six_days, 32.45), six_days)
    effects = book.tick(NOW, ("G1",))
    failed = [e for e in effects if isinstance(e, TimerFailed)]
    assert [f.case_id for f in failed] == ["G1~1"]
    assert "no working time within" in failed[0].error
    breached = [e for e in effects if isinstance(e, SlaAlert)]
    assert [(a.case.case_id, a.kind) for a in breached] == [("G1~2", AlertKind.SLA_BREACH)]
