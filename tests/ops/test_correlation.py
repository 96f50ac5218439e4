"""The correlation id a failing envelope's log lines carry: its event, else its place."""

import json
import uuid
from datetime import UTC, datetime

from civicgrid.agents.grid_stage import correlation_id
from civicgrid.domain.routing import RawRecord, dead_letter
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import GridEnvelope, Origin
from civicgrid.topics import catalogue as topics

REPORTS = topics.REPORTS.name


def test_an_event_is_named_by_its_event_id() -> None:
    event_id = uuid.uuid4()
    report = Report.model_validate_json(
        json.dumps(
            {
                "event_id": str(event_id),
                "occurred_at": datetime.now(UTC).isoformat(),
                "schema_version": 1,
                "channel": "scan",
                "description": "路灯不亮",
                "reporter_id": "h:0123456789abcdef0123456789abcdef",
                "reporter_role": "resident",
                "grid_id": "G1",
            }
        )
    )
    envelope = GridEnvelope(
        kind="report",
        grid_id="G1",
        report=report,
        origin=Origin(topic=REPORTS, partition=1, offset=9),
    )
    assert correlation_id(envelope) == str(event_id)


def test_a_dead_letter_is_named_by_its_origin_as_intake_names_it() -> None:
    record = RawRecord(REPORTS, 2, 41, None, None, b"{broken", ())
    letter = dead_letter(record, DeadLetterKind.INVALID_JSON, "broken")
    # agents/intake.py logs a record it fails on under the same topic:partition:offset.
    assert correlation_id(letter) == f"{REPORTS}:2:41"


def test_a_tick_is_named_by_its_grid() -> None:
    tick = GridEnvelope(kind="tick", grid_id="G7", now=datetime.now(UTC))
    assert correlation_id(tick) == "tick:G7"
