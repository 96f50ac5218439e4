import json
from datetime import datetime

from civicgrid.domain.case import Case, SlaStage
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from schemas.enums import CaseState, Level, Severity

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
        event_ids=("e1", "e2"),
        report_times=(opened, opened),
        reporter_hashes=("h1",),
        duplicate_count=1,
        return_count=0,
        rework_count=0,
        network=True,
        escalation_reasons=("P1",),
        sla_stage=SlaStage.WARNED,
        sla_started_at=opened,
        updated_at=opened,
        report_reporters=("h1", "h1"),
        report_codes=("MH-1", "MH-1"),
        report_lats=(32.45, 32.4501),
        report_lons=(119.92, 119.92),
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
    assert legacy.report_reporters == ("e1", "e2")  # each report a different reporter
    assert (legacy.report_codes, legacy.report_lats) == (("MH-1", "MH-1"), (32.45, 32.45))
    assert legacy.repeat_alerted_at is None


def test_next_version_and_counts() -> None:
    case = sample()
    later = datetime(2025, 9, 22, 11, tzinfo=TZ)
    moved = case.next_version(later, state=CaseState.ACCEPTED)
    assert (moved.version, moved.state, moved.updated_at) == (4, CaseState.ACCEPTED, later)
    assert case.state is CaseState.DISPATCHED
    assert case.reporter_count == 1
    assert case.lead_department == "drainage"
