"""A batch of state records reduced to what the mirror writes, and split to find a record
PostgreSQL refuses."""

import orjson

from civicgrid.domain.statemirror import (
    CODES,
    PartitionBatch,
    StateChange,
    net_effect,
    next_offset,
    one_by_one,
    recreated,
)
from civicgrid.schemas.inbound import RegistryRecord
from civicgrid.topics import catalogue as topics


def _code(code: str, **extra: object) -> RegistryRecord:
    value = {"code": code, "element_type": "place", "kind": "doorplate", "grid_id": "G1"}
    return RegistryRecord.model_validate_json(orjson.dumps(value | extra))


def _batch(*changes: StateChange, end: int, first: bool = False) -> PartitionBatch:
    return PartitionBatch(topics.REGISTRY.name, 2, changes, end, 100, first)


def test_the_last_word_per_key_in_key_order_with_numbers_masked() -> None:
    changes = [
        StateChange(10, "B", _code("B")),
        StateChange(11, "A", _code("A", name="房东 13812345678", attributes={"id": "x"})),
        StateChange(12, "B", None),
        StateChange(13, "C", None),
        StateChange(14, "C", _code("C")),
    ]
    effect = net_effect(changes, CODES, 2)
    assert [row[:2] for row in effect.upserts] == [("A", 2), ("C", 2)]
    assert effect.upserts[0][5] == "房东 138****5678"
    assert effect.deletes == ["B"]


def test_one_record_at_a_time_ends_where_the_batch_ends() -> None:
    batch = _batch(StateChange(10, "A", None), StateChange(13, "B", None), end=15, first=True)
    singles = one_by_one(batch)
    assert [(s.changes[0].offset, s.end, s.first) for s in singles] == [
        (10, 11, True),
        (13, 15, False),
    ]


def test_offsets_move_forward_and_a_lower_high_water_mark_means_recreated() -> None:
    assert next_offset(20, _batch(end=15)) == 20  # another writer is ahead: stay
    assert next_offset(10, _batch(end=15)) == 15
    assert recreated(150, _batch(end=0, first=True))  # high-water 100 < 150 held
    assert not recreated(150, _batch(end=0))  # only a follower's first read can tell
    assert not recreated(100, _batch(end=0, first=True))
