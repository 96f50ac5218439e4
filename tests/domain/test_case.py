import json
from datetime import datetime

from civicgrid.domain.case import Case, CaseReport, CaseReports, SlaStage
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.enums import CaseState, Level, Severity

TZ = WorkingCalendar().zone


def sample() -> Case:
    opened = datetime(2025, 9, 22, 10, tzinfo=TZ)
    return Case(
        case_id="G001~7",
        case_code="G001-20250922-00007",
        version=3,
        state=CaseState.DISPATCHED,
        level=Level.STREET,
        category="01002",
        severity=Severity.P1,
        grid_id="G001",
        departments=("drainage", "police"),
        opened_at=opened,
        deadline=datetime(2025, 9, 22, 12, tzinfo=TZ),
        limit=TimeLimit.parse("0.5 working days"),
        code="MH-1",
        lat=32.45,
        lon=119.92,
        reports=CaseReports.of(
            [
                CaseReport("e1", opened, "h1", "MH-1", 32.45, 119.92),
                CaseReport("e2", opened, "h1", "MH-1", 32.4501, 119.92),
            ]
        ),
        duplicate_count=1,
        return_count=0,
        rework_count=0,
        network=True,
        escalation_reasons=("P1",),
        sla_stage=SlaStage.WARNED,
        sla_started_at=opened,
        updated_at=opened,
        repeat_alerted_at=opened,
    )


def test_round_trip_through_json() -> None:
    case = sample()
    data = json.loads(json.dumps(case.to_dict()))
    assert Case.from_dict(data) == case
    assert Case.from_dict(data).to_dict() == data
    assert data["state"] == "DISPATCHED"
    assert data["deadline"] == "2025-09-22T12:00:00+08:00"
    assert data["limit"] == {"amount": 0.5, "unit": "working_days"}


def test_a_case_stored_without_its_reports_one_by_one_reads_them_at_its_own_point() -> None:
    data = json.loads(json.dumps(sample().to_dict()))
    for key in ("report_reporters", "report_codes", "report_lats", "report_lons"):
        del data[key]
    del data["repeat_alerted_at"]
    legacy = Case.from_dict(data)
    reports = legacy.reports
    assert [r.reporter for r in reports] == ["e1", "e2"]  # each report a different reporter
    assert [(r.code, r.lat) for r in reports] == [("MH-1", 32.45), ("MH-1", 32.45)]
    assert legacy.repeat_alerted_at is None


def test_next_version_and_counts() -> None:
    case = sample()
    later = datetime(2025, 9, 22, 11, tzinfo=TZ)
    moved = case.next_version(later, state=CaseState.ACCEPTED)
    assert (moved.version, moved.state, moved.updated_at) == (4, CaseState.ACCEPTED, later)
    assert case.state is CaseState.DISPATCHED
    assert case.reporter_count == 1
    assert case.lead_department == "drainage"


def test_versions_share_their_reports_and_never_see_each_others() -> None:
    case = sample()
    at = case.opened_at
    joined = case.next_version(
        at, reports=case.reports.appended(CaseReport("e3", at, "h2", None, None, None))
    )
    assert case.event_ids == ("e1", "e2")
    assert joined.event_ids == ("e1", "e2", "e3")
    assert (case.reporter_hashes, joined.reporter_hashes) == (("h1",), ("h1", "h2"))
    # an older version taking another path forks the log instead of writing into it
    other = case.next_version(
        at, reports=case.reports.appended(CaseReport("e4", at, "h3", None, None, None))
    )
    assert other.event_ids == ("e1", "e2", "e4")
    assert joined.event_ids == ("e1", "e2", "e3")
    assert other.reporter_hashes == ("h1", "h3")
