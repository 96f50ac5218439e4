"""What the PostgreSQL mirror of a compacted state topic holds, and a batch's net effect.

One `MirrorSpec` per mirrored topic: its table, key column and value columns, and how a
validated record becomes a row. Adding a compacted topic to the mirror is a spec here, a
table in a migration and the topic in `MIRRORS`. Pure: no I/O.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from civicgrid.domain.privacy import mask_text
from civicgrid.schemas.inbound import ActorRecord, GridRecord, RegistryRecord
from civicgrid.topics import catalogue as topics

Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class StateChange:
    """One record of a state topic as the follower validated it; `record` None deletes."""

    offset: int
    key: str
    record: BaseModel | None


@dataclass(frozen=True, slots=True)
class MirrorSpec:
    topic: str
    table: str
    key_column: str
    columns: tuple[str, ...]  # after the key and the partition, in `row`'s order
    row: Callable[[Any], Row]


@dataclass(frozen=True, slots=True)
class NetEffect:
    """A batch reduced to its last word per key, keys sorted: rows to upsert (key first),
    keys to delete. Sorted keys lock rows in one order in every writer."""

    upserts: list[Row]
    deletes: list[str]


def net_effect(changes: Iterable[StateChange], spec: MirrorSpec, partition: int) -> NetEffect:
    # A batch naming a key twice must write it once: ON CONFLICT DO UPDATE refuses a row
    # proposed twice in one statement.
    last: dict[str, BaseModel | None] = {}
    for change in changes:
        last[change.key] = change.record
    upserts: list[Row] = []
    deletes: list[str] = []
    for key in sorted(last):
        record = last[key]
        if record is None:
            deletes.append(key)
        else:
            upserts.append((key, partition, *spec.row(record)))
    return NetEffect(upserts, deletes)


def _masked(value: object) -> object:
    return mask_text(value) if isinstance(value, str) else value


def _grid_row(record: GridRecord) -> Row:
    polygon = None if record.polygon is None else [list(point) for point in record.polygon]
    return (
        record.name,
        record.community,
        record.street,
        record.district,
        record.city,
        list(record.neighbours),
        list(record.worker_ids),
        record.households,
        polygon,
    )


def _code_row(record: RegistryRecord) -> Row:
    # A name or attribute is free text an upstream clerk typed: it may hold a phone number.
    attributes: Mapping[str, object] = {k: _masked(v) for k, v in record.attributes.items()}
    return (
        record.element_type.value,
        record.kind,
        record.grid_id,
        None if record.name is None else mask_text(record.name),
        record.lat,
        record.lon,
        dict(attributes),
    )


GRIDS = MirrorSpec(
    topics.GRIDS.name,
    "mirror_grids",
    "grid_id",
    (
        "name",
        "community",
        "street",
        "district",
        "city",
        "neighbours",
        "worker_ids",
        "households",
        "polygon",
    ),
    _grid_row,
)
CODES = MirrorSpec(
    topics.REGISTRY.name,
    "mirror_codes",
    "code",
    ("element_type", "kind", "grid_id", "name", "lat", "lon", "attributes"),
    _code_row,
)


def _actor_row(record: ActorRecord) -> Row:
    return (
        record.kind.value,
        None if record.name is None else mask_text(record.name),
        None if record.rung is None else record.rung.value,
        list(record.grids),
        record.community,
        record.street,
        record.district,
        list(record.departments),
    )


ACTORS = MirrorSpec(
    topics.ACTORS.name,
    "mirror_actors",
    "actor_id",
    ("kind", "name", "rung", "grids", "community", "street", "district", "departments"),
    _actor_row,
)
MIRRORS: dict[str, MirrorSpec] = {spec.topic: spec for spec in (GRIDS, CODES, ACTORS)}


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    """What the mirror's consumer took from one partition in one poll: the valid records,
    the offset after the last record taken (`end`; a rejected record is passed over, not
    lost) and the partition's high-water mark. `first` marks the first batch of a partition
    read again from its beginning because the mirror is past its end. No `changes` and
    `end` at the high-water mark is a checkpoint: the partition is read to its end."""

    topic: str
    partition: int
    changes: tuple[StateChange, ...]
    end: int
    highwater: int
    first: bool


def recreated(stored_next: int, batch: PartitionBatch) -> bool:
    """Kafka offsets never go back: a partition whose high-water mark, on the first read of a
    pass from its beginning, is below what the mirror already holds was deleted and created
    again (an embedded broker restarted empty), and its mirrored rows are stale."""
    return batch.first and stored_next > batch.highwater


def next_offset(stored_next: int, batch: PartitionBatch) -> int:
    return max(stored_next, batch.end)


def one_by_one(batch: PartitionBatch) -> list[PartitionBatch]:
    """The batch as one batch per record, to find the record PostgreSQL refuses; together
    they end where the batch ends, and only the first is `first`."""
    ends = [change.offset + 1 for change in batch.changes[:-1]] + [batch.end]
    return [
        PartitionBatch(
            batch.topic, batch.partition, (change,), end, batch.highwater, batch.first and n == 0
        )
        for n, (change, end) in enumerate(zip(batch.changes, ends, strict=True))
    ]
