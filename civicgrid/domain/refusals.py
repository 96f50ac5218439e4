"""What to send in place of an internal record the broker refuses for good.

A record the broker will never take (larger than its limit, a topic it refuses) used to be
retried forever, and every inbound topic stopped behind it (issue 16, item 2). The record at
fault is found by halving the problem once: a refused batch record is sent again one
envelope per record; a refused single envelope becomes a dead letter whose original is cut
to `ORIGINAL_LIMIT` bytes, so it is accounted for and small enough to pass; a dead letter
refused even so is cut to `LAST_RESORT_LIMIT` (a broker or producer limit below ~90 KB:
`CIVICGRID_PRODUCER_MAX_REQUEST_BYTES`, a topic's `max.message.bytes`).
"""

import base64

from civicgrid.domain.gridwork import Message
from civicgrid.domain.routing import RawRecord, dead_letter
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.internal import DeadLetterBody, GridBatch, GridEnvelope
from civicgrid.schemas.limits import DEFAULT_LIMITS
from civicgrid.schemas.parse import MAX_KEY_BYTES

# A dead letter keeps at most this much of its original (the default largest inbound value):
# the full record is still at its topic, partition and offset for as long as the broker keeps it.
ORIGINAL_LIMIT = DEFAULT_LIMITS.value_bytes
# What a dead letter refused with an original of at most ORIGINAL_LIMIT keeps: ~5.5 KB in
# base64, under any request limit the settings allow.
LAST_RESORT_LIMIT = 4096


def letter_for(envelope: GridEnvelope, reason: str) -> GridEnvelope | None:
    """A dead letter in place of `envelope`, its original cut to `ORIGINAL_LIMIT` bytes
    (a dead letter already, refused with an original that short: to `LAST_RESORT_LIMIT`);
    None for an envelope that has no inbound record (a tick: the next tick retries it)."""
    origin = envelope.origin
    if origin is None:
        return None
    if envelope.dead_letter is not None:  # a dead letter already: keep its kind and key
        letter = envelope.dead_letter
        original = base64.b64decode(letter.value) if letter.value is not None else b""
        limit = ORIGINAL_LIMIT if len(original) > ORIGINAL_LIMIT else LAST_RESORT_LIMIT
        cut = original[:limit]
        note = "" if cut == original else f" (original cut to its first {limit} bytes)"
        key = None if letter.key is None else base64.b64decode(letter.key)[:MAX_KEY_BYTES]
        body = DeadLetterBody(
            kind=letter.kind,
            message=f"{letter.message}; {reason}{note}",
            key=None if key is None else base64.b64encode(key).decode("ascii"),
            value=None if letter.value is None else base64.b64encode(cut).decode("ascii"),
            event_id=letter.event_id,
        )
        return envelope.model_copy(update={"dead_letter": body})
    original = envelope.model_dump_json().encode()
    cut = original[:ORIGINAL_LIMIT]
    note = "" if cut == original else f" (envelope cut to its first {ORIGINAL_LIMIT} bytes)"
    record = RawRecord(
        origin.topic, origin.partition, origin.offset, origin.published_at, None, cut, ()
    )
    return dead_letter(record, DeadLetterKind.PROCESSING_ERROR, f"{reason}{note}")


def after_refusal(message: Message, reason: str) -> list[Message]:
    """What to send instead of `message`, an internal record the broker refused for good:
    its envelopes one per record, or, for a single envelope, its dead letter."""
    envelopes = GridBatch.model_validate_json(message.value).envelopes
    if len(envelopes) > 1:
        return [_single(message, envelope) for envelope in envelopes]
    letter = letter_for(envelopes[0], reason)
    return [] if letter is None else [_single(message, letter)]


def _single(message: Message, envelope: GridEnvelope) -> Message:
    """A record of one envelope, keyed as the grid stage expects it (a dead letter by its
    source partition, not by the grid of the event it replaces)."""
    value = GridBatch(envelopes=(envelope,)).model_dump_json().encode()
    partition = message.partition if envelope.grid_id == message.key else None
    return Message(message.topic, envelope.grid_id, value, partition)
