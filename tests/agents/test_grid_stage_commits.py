"""The grid stage's transactions stay short behind a backlog of reports: encoding costs ~40 ms
per report, so a transaction holds a bounded number of them whatever the batch size."""

import uuid
from datetime import UTC, datetime

from civicgrid.agents.grid_stage import _REPORTS_PER_COMMIT, _report_bounded
from civicgrid.schemas.enums import Channel, Role
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridEnvelope

NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


def _report(n: int) -> GridEnvelope:
    report = Report(
        event_id=uuid.UUID(int=n),
        occurred_at=NOW,
        schema_version=1,
        channel=Channel.APP,
        code="TZ-LAMP-1",
        description="路灯不亮",
        reporter_id=f"h{n}",
        reporter_role=Role.RESIDENT,
    )
    return GridEnvelope(kind="report", grid_id="G1", report=report)


def test_a_transaction_holds_a_bounded_number_of_reports_and_keeps_the_order() -> None:
    ticks = [GridEnvelope(kind="tick", grid_id="G1", now=NOW) for _ in range(3)]
    envelopes = [*ticks, *(_report(n) for n in range(2 * _REPORTS_PER_COMMIT + 5))]
    batches = list(_report_bounded(iter(envelopes), 5000))
    reports = [sum(e.report is not None for e in batch) for batch in batches]
    assert reports == [_REPORTS_PER_COMMIT, _REPORTS_PER_COMMIT, 5]
    assert [e for batch in batches for e in batch] == envelopes


def test_the_batch_size_still_bounds_envelopes() -> None:
    ticks = [GridEnvelope(kind="tick", grid_id="G1", now=NOW) for _ in range(7)]
    assert [len(b) for b in _report_bounded(iter(ticks), 3)] == [3, 3, 1]
