"""The household reconciliation as a stream (issue 21), its pure parts.

Intake parses civic.residents.v1 and civic.presence.v1 once, hashes every person code,
household number and observer (SPEC §8) and repartitions them by the person's hash to
`civic.internal.by-person.v1`: the reconciliation's state (a person's registrations and
sightings) is per person, so each person has one writer. The household stage
(agents/households.py) stores them, re-runs `households.reconcile_person` for the persons a
batch touched, and turns each change of a finding (raised / withdrawn) into a ``finding``
envelope to the grid stage, which owns the cases of the finding's grid: it opens (or joins)
an L0103 case, or withdraws it. Only findings cross that second topic, not observations.

Records of the by-person topic are compact JSON (only civicgrid writes it, after the edge
parser): one per bucket of persons and intake batch, so a batch of 5,000 observations is a
few dozen records, not one per person.
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from civicgrid.domain.gridwork import MAX_BATCH_RECORD_BYTES, Message
from civicgrid.domain.households import Finding
from civicgrid.domain.privacy import KeyedHasher, protect_presence, protect_resident
from civicgrid.domain.routing import RawRecord, dead_letter
from civicgrid.schemas.inbound import ResidentRecord
from civicgrid.schemas.internal import GridEnvelope, HouseholdFinding
from civicgrid.schemas.limits import DEFAULT_LIMITS, Limits
from civicgrid.schemas.parse import IntakeError, parse_presence, parse_resident
from civicgrid.topics import catalogue as topics

# Persons are spread over this many keys of the by-person topic; a person's bucket (and so
# partition) never changes. A few buckets per partition keep the partitions even and the records
# large (a bucket's share of an intake batch: ~300 observations of 5,000).
BUCKETS = 16


def bucket_of(person_hash: str) -> int:
    return int(hashlib.blake2b(person_hash.encode(), digest_size=4).hexdigest(), 16) % BUCKETS


def bucket_key(bucket: int) -> str:
    return f"~persons/{bucket}"


@dataclass(frozen=True, slots=True)
class ResidentItem:
    """A person's registrations (None: a tombstone), and where the record was read: a later
    offset of the same source partition replaces an earlier one, never the other way."""

    person: str
    src_partition: int
    src_offset: int
    record: ResidentRecord | None


@dataclass(frozen=True, slots=True)
class SightingItem:
    """One presence observation, protected: the row the household stage stores."""

    event_id: str
    person: str
    source: str
    kind: str
    place_code: str | None
    day: str  # ISO date: occurred_at's day, as `households.Sighting.of` dates it
    born_on: str | None
    observer: str | None
    occurred_at: str  # ISO 8601 with offset
    topic: str
    partition: int
    offset: int

    def row(self) -> tuple[Any, ...]:
        return (
            self.event_id,
            self.person,
            self.source,
            self.kind,
            self.place_code,
            self.day,
            self.born_on,
            self.observer,
            self.occurred_at,
            self.topic,
            self.partition,
            self.offset,
        )


PersonItem = ResidentItem | SightingItem


def route_household(
    record: RawRecord,
    hasher: KeyedHasher,
    received_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> PersonItem | GridEnvelope:
    """One record of civic.residents.v1 / civic.presence.v1 in; its protected item, or its
    dead letter (an envelope for the grid stage, which writes every dead letter)."""
    try:
        if record.topic == topics.RESIDENTS.name:
            name, resident = parse_resident(record.key, record.value, limits)
            protected = None if resident is None else protect_resident(resident, hasher)
            return ResidentItem(hasher.hash(name), record.partition, record.offset, protected)
        seen = protect_presence(
            parse_presence(record.key, record.value, record.headers, limits, received_at),
            hasher,
        )
    except IntakeError as error:
        return dead_letter(record, error.kind, error.message, hasher)
    return SightingItem(
        str(seen.event_id),
        seen.person_code,
        seen.source.value,
        seen.kind.value,
        seen.place_code,
        seen.occurred_at.date().isoformat(),
        None if seen.born_on is None else seen.born_on.isoformat(),
        seen.observer_id,
        seen.occurred_at.isoformat(),
        record.topic,
        record.partition,
        record.offset,
    )


def _encoded(item: PersonItem) -> bytes:
    if isinstance(item, SightingItem):
        return orjson.dumps(["s", *item.row()])
    record = None if item.record is None else orjson.Fragment(item.record.model_dump_json())
    return orjson.dumps(["r", item.person, item.src_partition, item.src_offset, record])


def by_person_messages(items: Iterable[PersonItem]) -> list[Message]:
    """The by-person topic's records: per bucket, its items in order, in runs under the
    internal topic's record size limit."""
    by_bucket: dict[int, list[bytes]] = {}
    for item in items:
        by_bucket.setdefault(bucket_of(item.person), []).append(_encoded(item))
    return [
        Message(topics.BY_PERSON.name, bucket_key(bucket), b"[" + b",".join(run) + b"]")
        for bucket, parts in by_bucket.items()
        for run in _runs(parts)
    ]


def sweep_messages(partitions: int, as_of: date) -> list[Message]:
    """The daily sweep: one record to each partition of the by-person topic, after which its
    stage reconciles every person it owns (the silence rules move with the calendar)."""
    value = orjson.dumps([["sweep", as_of.isoformat()]])
    return [
        Message(topics.BY_PERSON.name, None, value, partition) for partition in range(partitions)
    ]


def _runs(parts: list[bytes]) -> Iterator[list[bytes]]:
    run: list[bytes] = []
    size = 0
    for part in parts:
        if run and size + len(part) > MAX_BATCH_RECORD_BYTES:
            yield run
            run, size = [], 0
        run.append(part)
        size += len(part) + 1
    if run:
        yield run


@dataclass(frozen=True, slots=True)
class Decoded:
    residents: list[ResidentItem]
    sightings: list[tuple[Any, ...]]  # SightingItem.row() shapes
    sweeps: list[str]  # ISO dates


def decode(values: Iterable[bytes]) -> Decoded:
    """The items of by-person records; a record that is not ours is skipped (only civicgrid
    writes the topic; the caller counts what it skipped)."""
    residents: list[ResidentItem] = []
    sightings: list[tuple[Any, ...]] = []
    sweeps: list[str] = []
    for value in values:
        for item in orjson.loads(value):
            tag = item[0]
            if tag == "s":
                sightings.append(tuple(item[1:]))
            elif tag == "r":
                raw = item[4]
                record = (
                    None if raw is None else ResidentRecord.model_validate_json(orjson.dumps(raw))
                )
                residents.append(ResidentItem(item[1], item[2], item[3], record))
            elif tag == "sweep":
                sweeps.append(item[1])
    return Decoded(residents, sightings, sweeps)


# --- findings -------------------------------------------------------------------------------


def finding_id(hasher: KeyedHasher, finding: Finding) -> str:
    """The finding's key as its case's de-duplication key: a keyed hash of (kind, subject),
    so the case record does not carry the person's hash that joins their other records."""
    return hasher.hash(f"household-finding:{finding.kind.value}:{finding.subject}")


def finding_row(person: str, fid: str, finding: Finding, found_at: datetime) -> tuple[Any, ...]:
    """A `household_findings` row: the evidence as the police see it (ids masked)."""
    evidence = [
        {
            "source": e.source.value,
            "kind": e.kind.value,
            "place_code": e.place_code,
            "days": e.days,
            "first": e.first.isoformat(),
            "last": e.last.isoformat(),
        }
        for e in finding.evidence
    ]
    return (
        person,
        fid,
        finding.kind.value,
        finding.masked_subject,
        finding.rule,
        finding.place_code,
        finding.grid_id,
        finding.decisive_on,
        dict(finding.thresholds),  # jsonb: the pool's codec encodes them
        evidence,
        list(finding.households),
        found_at,
    )


@dataclass(frozen=True, slots=True)
class FindingState:
    kind: str
    grid_id: str | None
    raised: bool
    generation: int


@dataclass(frozen=True, slots=True)
class Transition:
    """A finding that changed between raised and withdrawn: the grid stage's input."""

    finding_id: str
    kind: str
    grid_id: str | None
    raised: bool
    generation: int
    rule: str
    place_code: str | None
    decisive_on: date | None


def transitions(
    touched: Mapping[str, Finding | None],
    raisers: Mapping[str, int],
    states: Mapping[str, FindingState],
) -> list[Transition]:
    """Which findings change state. `touched`: each finding id a reconciliation produced or
    dropped (the finding, or None when dropped); `raisers`: how many persons raise it now,
    after the batch's rows were written; `states`: what was last published. A finding is
    raised while anyone raises it; each change moves its generation on."""
    out: list[Transition] = []
    for fid in sorted(touched):
        finding = touched[fid]
        raised = raisers.get(fid, 0) > 0
        state = states.get(fid)
        if (state.raised if state is not None else False) == raised:
            continue
        generation = (state.generation if state is not None else 0) + 1
        kind = finding.kind.value if finding is not None else (state.kind if state else "")
        # a withdrawal goes to the grid whose case the raise opened
        if raised:
            grid = finding.grid_id if finding is not None else None
        else:
            grid = state.grid_id if state is not None else None
        out.append(
            Transition(
                fid,
                kind,
                grid,
                raised,
                generation,
                finding.rule if finding is not None else "its cause is gone",
                finding.place_code if finding is not None else None,
                finding.decisive_on if finding is not None else None,
            )
        )
    return out


def finding_envelopes(changes: Sequence[Transition], now: datetime) -> list[GridEnvelope]:
    """The grid stage's envelopes for the changes that have a grid (a finding whose place
    the registry does not know has none: it stays in the report, with no case)."""
    return [
        GridEnvelope(
            kind="finding",
            grid_id=change.grid_id,
            now=now,
            finding=HouseholdFinding(
                finding_id=change.finding_id,
                kind=change.kind,
                raised=change.raised,
                generation=change.generation,
                rule=change.rule,
                place_code=change.place_code,
                decisive_on=change.decisive_on,
            ),
        )
        for change in changes
        if change.grid_id is not None
    ]
