"""A hot point's rows and messages stay bounded per report (issue 16 item 4): each joined
report once wrote a full snapshot, with every report id of its case, to case_history and to
civic.cases.v1 (2,004 snapshots, 77 MB, for 2,000 reports)."""

import uuid
from datetime import UTC, datetime, timedelta

import orjson

from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Channel, Role
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridEnvelope, Origin
from civicgrid.topics import catalogue as topics

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)


def _burst(first: int, count: int) -> list[GridEnvelope]:
    return [
        GridEnvelope(
            kind="report",
            grid_id="g1",
            origin=Origin(topic=topics.REPORTS.name, partition=0, offset=n),
            report=Report(
                event_id=uuid.UUID(int=n + 1),
                occurred_at=T0 + timedelta(seconds=n),
                schema_version=1,
                channel=Channel.SCAN,
                code="MH-1",
                description="小区门口的窨井盖不见了，很危险",
                reporter_id=f"h{n}",
                reporter_role=Role.RESIDENT,
            ),
        )
        for n in range(first, first + count)
    ]


def test_joined_reports_write_small_history_rows_and_one_snapshot_per_batch() -> None:
    taxonomy = Taxonomy.default()
    work = GridWork(Classifier.default(taxonomy), taxonomy)
    book = CaseBook()
    batches = [work.plan(_burst(first, 300), set(), book) for first in (0, 300)]
    rows = [row for plan in batches for row in plan.history]
    assert sum(row[4] == "duplicate report joined" for row in rows) == 599
    sizes = [len(orjson.dumps(row[-1])) for row in rows]
    assert max(sizes) < 1_000  # a row costs the same for the 600th report as for the first
    assert all("event_ids" not in row[-1] for row in rows)
    for plan, reports in zip(batches, (300, 600), strict=True):
        snapshots = [orjson.loads(m.value) for m in plan.messages if m.topic == topics.CASES.name]
        versions = [s["version"] for s in snapshots]
        assert versions == sorted(versions)
        assert len(snapshots) <= 5  # the opening steps, the lift, the batch's last version
        assert len(snapshots[-1]["event_ids"]) == reports
        assert snapshots[-1]["version"] == max(row[1] for row in plan.history)
