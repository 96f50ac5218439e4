"""The grid stage's share of early warning: counting reports, repeat points, cluster linkage."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.classifier import Classifier, packaged_head
from civicgrid.domain.gridwork import BatchPlan, GridWork, watermark_messages
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import CaseState, Channel, Role
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridBatch, GridEnvelope, Origin
from civicgrid.topics import catalogue as topics

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)  # 09:00 local
LAMP = "路灯晚上不亮了"


@pytest.fixture(scope="module")
def work() -> GridWork:
    taxonomy = Taxonomy.default()
    return GridWork(Classifier.default(taxonomy), taxonomy)


def _report(
    offset: int,
    at: datetime,
    grid: str = "g1",
    code: str = "C-LAMP-1",
    reporter: str | None = None,
    role: Role = Role.RESIDENT,
    hint: str | None = None,
) -> GridEnvelope:
    report = Report(
        event_id=uuid.uuid4(),
        occurred_at=at,
        schema_version=1,
        channel=Channel.SCAN,
        code=code,
        description=LAMP,
        reporter_id=reporter or f"h{offset}",
        reporter_role=role,
        category_hint=hint,
    )
    origin = Origin(topic=topics.REPORTS.name, partition=0, offset=offset)
    return GridEnvelope(kind="report", grid_id=grid, origin=origin, report=report)


def _alerts(plan: BatchPlan) -> list[dict[str, object]]:
    return [orjson.loads(m.value) for m in plan.messages if m.topic == topics.ALERTS.name]


def test_each_new_report_counts_once_in_its_local_day(work: GridWork) -> None:
    first = _report(1, T0)
    envelopes = [first, first, _report(2, T0 + timedelta(hours=16), code="C-LAMP-2")]
    plan = work.plan(envelopes, set(), CaseBook())
    local_day = datetime(2026, 3, 1, 16, tzinfo=UTC)
    category = plan.classifications[0].category
    assert dict(plan.series_counts) == {
        ("g1", category, 86400, local_day): 1,  # the redelivered copy is not counted
        ("g1", category, 86400, local_day + timedelta(days=1)): 1,
    }


def test_the_third_report_of_a_code_in_seven_days_alerts_once(work: GridWork) -> None:
    book = CaseBook()
    days = [T0, T0 + timedelta(days=2), T0 + timedelta(days=4), T0 + timedelta(days=5)]
    envelopes = [_report(i, at) for i, at in enumerate(days)]
    plans = [work.plan([envelope], set(), book) for envelope in envelopes]
    assert [len(_alerts(p)) for p in plans] == [0, 0, 1, 0]  # one alert per point per week
    (alert,) = _alerts(plans[2])
    assert alert["kind"] == "repeat_point"
    assert (alert["observed"], alert["expected"], alert["grid_ids"]) == (3.0, 3.0, ["g1"])
    assert envelopes[2].report is not None
    assert plans[2].alerts[0][0] == f"repeat_point:g1~1:{envelopes[2].report.event_id}"


def test_a_point_counts_the_reports_of_its_closed_case(work: GridWork) -> None:
    first = CaseBook()
    work.plan([_report(0, T0), _report(1, T0 + timedelta(hours=1))], set(), first)
    opened = first.get("g1~1")
    assert opened is not None
    settled = replace(opened, state=CaseState.CLOSED)
    book = CaseBook.from_cases([settled], first.sequences)
    plan = work.plan([_report(2, T0 + timedelta(days=3))], set(), book)
    (alert,) = _alerts(plan)
    assert (alert["observed"], plan.alerts[0][0].split(":")[1]) == (3.0, "g1~2")
    assert "repeat point: 3 or more reports in 7 days" in plan.dispatches[-1][3]  # a network matter


def test_a_point_alerts_again_once_its_last_alert_is_a_week_old(work: GridWork) -> None:
    book = CaseBook()
    days = [0.0, 0.1, 0.2, 5.0, 6.0, 7.3]  # the week of 5.0-7.3 is alerted at 7.3
    plans = [
        work.plan([_report(i, T0 + timedelta(days=d))], set(), book) for i, d in enumerate(days)
    ]
    assert [len(_alerts(p)) for p in plans] == [0, 0, 1, 0, 0, 1]


def test_a_report_counts_in_the_category_the_resident_picked(work: GridWork) -> None:
    plan = work.plan([_report(1, T0, hint="06036")], set(), CaseBook())
    assert plan.classifications[0].category != "06036"  # the text reads as a street lamp
    assert [key[1] for key in plan.series_counts] == ["06036"]


def test_one_resident_reporting_three_times_is_not_a_repeat_point(work: GridWork) -> None:
    book = CaseBook()
    days = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)]
    reporters = ["same", "same", "same", "other"]
    plans = [
        work.plan([_report(i, at, reporter=who)], set(), book)
        for i, (at, who) in enumerate(zip(days, reporters, strict=True))
    ]
    assert [len(_alerts(p)) for p in plans] == [0, 0, 0, 0]  # two complainants, not three


def test_a_grid_workers_report_does_not_make_a_repeat_point(work: GridWork) -> None:
    book = CaseBook()
    roles = [Role.RESIDENT, Role.RESIDENT, Role.GRID_WORKER]
    plans = [
        work.plan([_report(i, T0 + timedelta(days=i), role=role)], set(), book)
        for i, role in enumerate(roles)
    ]
    assert [len(_alerts(p)) for p in plans] == [0, 0, 0]


def test_a_cluster_envelope_lifts_the_grids_matching_cases_onto_the_network(
    work: GridWork,
) -> None:
    book = CaseBook()
    opened = work.plan([_report(1, T0), _report(2, T0, "g2", "C-LAMP-2")], set(), book)
    category = opened.classifications[0].category
    assert {row[2] for row in opened.dispatches} == {"grid"}
    cluster = [
        GridEnvelope(
            kind="cluster",
            grid_id=grid,
            grid_ids=("g1", "g2", "g3"),
            category=category,
            now=T0 + timedelta(days=1),
        )
        for grid in ("g1", "g2")
    ]
    plan = work.plan(cluster, set(), book)
    network = [row for row in plan.dispatches if row[2] == "network"]
    assert sorted(row[0] for row in network) == ["g1~1", "g2~1"]
    assert all("cluster alert" in row[3] and "g1, g2, g3" in row[3] for row in network)
    assert work.plan(cluster, set(), book).dispatches == []  # a repeated envelope: no-op


def test_a_watermark_envelope_moves_only_its_partitions_row(work: GridWork) -> None:
    messages = watermark_messages(4, T0)
    assert [m.partition for m in messages] == [0, 1, 2, 3]
    envelopes = [e for m in messages for e in GridBatch.model_validate_json(m.value).envelopes]
    later = envelopes[2].model_copy(update={"watermark": T0 + timedelta(hours=3)})
    plan = work.plan([envelopes[2], later, envelopes[2]], set(), CaseBook())
    assert plan.watermarks == {2: T0 + timedelta(hours=3)}
    assert not plan.series_counts
    assert not plan.events


class _NoEncoder:
    """Fails the test if the planner encodes: the shell's vectors must be used."""

    name = "none"

    def embed(self, texts: object) -> np.ndarray:
        raise AssertionError(f"the planner encoded {texts!r}")


def test_the_plan_classifies_with_the_vectors_the_shell_made(work: GridWork) -> None:
    water = _report(1, T0, code="C-W-1")
    assert water.report is not None
    water = water.model_copy(
        update={"report": water.report.model_copy(update={"description": "路边水管爆了在喷水"})}
    )
    envelopes = [_report(0, T0), water]
    embedded = work.embed(envelopes)
    assert [item.event_id for item in embedded] == [
        str(e.report.event_id) for e in envelopes if e.report is not None
    ]
    taxonomy = Taxonomy.default()
    pure = GridWork(Classifier(packaged_head(), taxonomy, _NoEncoder()), taxonomy)
    plan = pure.plan(envelopes, set(), CaseBook(), embedded)
    inline = work.plan(envelopes, set(), CaseBook())
    assert [c.category for c in plan.classifications] == ["01037", "10003"]
    assert plan.classifications == inline.classifications
