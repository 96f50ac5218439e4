"""The internal topic's records: per grid, in order, each under the size limit."""

import base64

from civicgrid.domain.gridwork import MAX_BATCH_RECORD_BYTES, by_grid_messages
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.internal import DeadLetterBody, GridBatch, GridEnvelope, Origin


def _letter(grid_id: str, offset: int, size: int) -> GridEnvelope:
    return GridEnvelope(
        kind="dead_letter",
        grid_id=grid_id,
        origin=Origin(topic="civic.scans.v1", partition=0, offset=offset),
        dead_letter=DeadLetterBody(
            kind=DeadLetterKind.OVERSIZE,
            message="oversize",
            value=base64.b64encode(b"x" * size).decode(),
        ),
    )


def _offsets(value: bytes) -> list[int]:
    return [e.origin.offset for e in GridBatch.model_validate_json(value).envelopes if e.origin]


def test_one_record_per_grid_while_small() -> None:
    envelopes = [_letter(grid, n, 100) for n, grid in enumerate(["a", "b", "a", "b", "a"])]
    messages = by_grid_messages(envelopes)
    assert [(m.key, _offsets(m.value)) for m in messages] == [("a", [0, 2, 4]), ("b", [1, 3])]


def test_a_grid_of_large_envelopes_is_split_in_order_under_the_limit() -> None:
    # 40 dead letters of a 64 KiB value each: ~3.4 MB for one grid, over any request limit
    envelopes = [_letter("~deadletter/civic.scans.v1/0", n, 64 * 1024) for n in range(40)]
    messages = by_grid_messages(envelopes)
    assert len(messages) > 1
    assert all(len(m.value) <= MAX_BATCH_RECORD_BYTES for m in messages)
    assert [o for m in messages for o in _offsets(m.value)] == list(range(40))
