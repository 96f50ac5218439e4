"""What replaces an internal record the broker refuses for good (civicgrid/domain/refusals.py):
its envelopes apart, then the one at fault as a dead letter small enough to pass."""

import base64
import uuid
from datetime import UTC, datetime

from civicgrid.domain.cityview import CityView
from civicgrid.domain.gridwork import MAX_BATCH_RECORD_BYTES, Message, by_grid_messages
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.refusals import (
    LAST_RESORT_LIMIT,
    ORIGINAL_LIMIT,
    after_refusal,
    letter_for,
)
from civicgrid.domain.routing import RawRecord, route
from civicgrid.schemas.enums import Channel, DeadLetterKind, Role
from civicgrid.schemas.inbound import Report
from civicgrid.schemas.internal import DeadLetterBody, GridBatch, GridEnvelope, Origin
from civicgrid.schemas.parse import MAX_KEY_BYTES
from civicgrid.topics import catalogue as topics


def _report(offset: int) -> GridEnvelope:
    report = Report(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2026, 3, 2, 1, tzinfo=UTC),
        schema_version=1,
        channel=Channel.SCAN,
        code="C-LAMP-1",
        description="路灯晚上不亮了",
        reporter_id="h:0123",
        reporter_role=Role.RESIDENT,
    )
    origin = Origin(topic=topics.REPORTS.name, partition=1, offset=offset)
    return GridEnvelope(kind="report", grid_id="g1", origin=origin, report=report)


def _oversize_letter(size: int) -> GridEnvelope:
    # what the edge made of a 900 KB value: a dead letter carrying it whole, 1.2 MB in base64
    return GridEnvelope(
        kind="dead_letter",
        grid_id="~deadletter/civic.reports.v1/1",
        origin=Origin(topic=topics.REPORTS.name, partition=1, offset=7),
        dead_letter=DeadLetterBody(
            kind=DeadLetterKind.OVERSIZE,
            message=f"value is {size} bytes; the limit is 65536",
            value=base64.b64encode(b"x" * size).decode(),
        ),
    )


def _envelopes(messages: list[Message]) -> list[GridEnvelope]:
    return [e for m in messages for e in GridBatch.model_validate_json(m.value).envelopes]


def test_a_refused_batch_is_sent_again_one_envelope_per_record() -> None:
    envelopes = [_report(1), _report(2), _report(3)]
    [batch] = by_grid_messages(envelopes)
    apart = after_refusal(batch, "MessageSizeTooLargeError")
    assert len(apart) == 3
    assert _envelopes(apart) == envelopes
    assert {m.key for m in apart} == {"g1"}


def test_a_refused_dead_letter_keeps_its_kind_and_a_cut_original() -> None:
    [record] = by_grid_messages([_oversize_letter(900_000)])
    assert len(record.value) > 1_000_000
    [replacement] = after_refusal(record, "MessageSizeTooLargeError")
    assert len(replacement.value) < MAX_BATCH_RECORD_BYTES
    assert replacement.key == "~deadletter/civic.reports.v1/1"
    [letter] = _envelopes([replacement])
    assert letter.origin == Origin(topic=topics.REPORTS.name, partition=1, offset=7)
    assert letter.dead_letter is not None
    assert letter.dead_letter.kind is DeadLetterKind.OVERSIZE
    assert "MessageSizeTooLargeError" in letter.dead_letter.message
    assert f"cut to its first {ORIGINAL_LIMIT} bytes" in letter.dead_letter.message
    assert letter.dead_letter.value is not None
    assert base64.b64decode(letter.dead_letter.value) == b"x" * ORIGINAL_LIMIT


def test_a_dead_letter_refused_with_a_short_original_is_cut_to_the_last_resort() -> None:
    # a producer or broker limit under ~90 KB refuses even a 64 KiB original in base64
    # (CIVICGRID_PRODUCER_MAX_REQUEST_BYTES, a topic's max.message.bytes): the worker used
    # to stop there ("the broker refuses even dead letters")
    [record] = by_grid_messages([_oversize_letter(ORIGINAL_LIMIT)])
    [replacement] = after_refusal(record, "MessageSizeTooLargeError")
    assert len(replacement.value) < 2 * LAST_RESORT_LIMIT
    [letter] = _envelopes([replacement])
    assert letter.dead_letter is not None
    assert letter.dead_letter.kind is DeadLetterKind.OVERSIZE
    assert f"cut to its first {LAST_RESORT_LIMIT} bytes" in letter.dead_letter.message
    assert letter.dead_letter.value is not None
    assert base64.b64decode(letter.dead_letter.value) == b"x" * LAST_RESORT_LIMIT
    # and a refused event's letter, refused in turn, is cut the same way
    first = letter_for(_report(4), "MessageSizeTooLargeError")
    assert first is not None
    again = letter_for(first, "MessageSizeTooLargeError")
    assert again is not None
    assert again.dead_letter is not None
    assert again.dead_letter.kind is DeadLetterKind.PROCESSING_ERROR
    assert again.origin == first.origin


def test_a_refused_event_becomes_a_processing_error_with_its_place_in_the_log() -> None:
    event = _report(9)
    letter = letter_for(event, "TopicAuthorizationFailedError")
    assert letter is not None
    assert letter.kind == "dead_letter"
    assert letter.origin == event.origin
    assert letter.dead_letter is not None
    assert letter.dead_letter.kind is DeadLetterKind.PROCESSING_ERROR
    assert letter.dead_letter.message == "TopicAuthorizationFailedError"
    assert letter.dead_letter.value is not None
    # the envelope whole: it is under the limit (the edge's ids already hashed)
    kept = GridEnvelope.model_validate_json(base64.b64decode(letter.dead_letter.value))
    assert kept == event


def test_an_envelope_without_a_record_has_nothing_to_dead_letter() -> None:
    tick = GridEnvelope(kind="tick", grid_id="g1", now=datetime(2026, 3, 2, tzinfo=UTC))
    assert letter_for(tick, "MessageSizeTooLargeError") is None
    [record] = by_grid_messages([tick])
    assert after_refusal(record, "MessageSizeTooLargeError") == []


def test_a_huge_key_cannot_make_a_dead_letter_no_cut_shrinks() -> None:
    # the hostile corpus's 900 KB key: its dead letter was 1.2 MB whatever the original's cut,
    # the broker refused it for good, and the worker stopped on it (and again after a restart)
    record = RawRecord(topics.REPORTS.name, 0, 5, None, b"A" * 900_000, b'{"x": 1}', ())
    envelope = route(record, CityView(), KeyedHasher(b"k" * 32), datetime.now(UTC))
    assert envelope.dead_letter is not None
    assert envelope.dead_letter.key is not None
    assert len(base64.b64decode(envelope.dead_letter.key)) == MAX_KEY_BYTES
    [message] = by_grid_messages([envelope])
    assert len(message.value) < 4 * LAST_RESORT_LIMIT
    # a letter made before the cut (a foreign record, an older worker) is cut when refused
    long_key = envelope.model_copy(
        update={
            "dead_letter": envelope.dead_letter.model_copy(
                update={"key": base64.b64encode(b"A" * 900_000).decode()}
            )
        }
    )
    [big] = by_grid_messages([long_key])
    [replacement] = after_refusal(big, "MessageSizeTooLargeError")
    assert len(replacement.value) < 4 * LAST_RESORT_LIMIT
