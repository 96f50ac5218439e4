"""The intake stage as a pure function: one raw inbound record in, one grid envelope out.

Parsing, dead-lettering, masking, enrichment and placement all happen here, once, at the
edge; what leaves is keyed by the grid whose partition owns the event's state.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from civicgrid.domain.cityview import CityView, Placement
from civicgrid.domain.privacy import (
    OFFICE_HOLDERS,
    WITHHELD,
    KeyedHasher,
    mask_text,
    protect_event,
    protect_original,
)
from civicgrid.schemas.enums import DeadLetterKind, Role
from civicgrid.schemas.inbound import CaseUpdate, InboundEvent, Patrol, Report, Scan
from civicgrid.schemas.internal import DeadLetterBody, Enrichment, GridEnvelope, Origin
from civicgrid.schemas.limits import DEFAULT_LIMITS, EARLIEST, LATEST, VALUE_BYTES_CEILING, Limits
from civicgrid.schemas.parse import MAX_KEY_BYTES, IntakeError, parse_inbound
from civicgrid.topics import catalogue as topics

CASE_GRID_SEPARATOR = "~"  # case ids are "<grid_id>~<n>": an update names its grid


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def origin(self) -> Origin:
        return Origin(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            published_at=self.timestamp,
        )


def published_at(milliseconds: int | None) -> datetime | None:
    """The record's timestamp, if it is a time the store can hold. Any producer sets it, and
    one beyond Python's datetime once raised outside the per-record guard, for every batch
    that held it."""
    if not milliseconds or milliseconds < 0:
        return None
    try:
        moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment if EARLIEST <= moment < LATEST else None


def dead_letter_key(record: RawRecord) -> str:
    """Dead letters of one source partition stay in order on one internal partition."""
    return f"~deadletter/{record.topic}/{record.partition}"


def dead_letter(
    record: RawRecord, kind: DeadLetterKind, message: str, hasher: KeyedHasher | None = None
) -> GridEnvelope:
    """The dead letter of a record, its original kept without identities in clear (issue 16
    item 11, docs/contract.md): people's ids replaced by their keyed hashes (`hasher`; without
    one, withheld), personal numbers masked, and a key that is a person's id (patrols are
    keyed by worker id) hashed like the id."""
    return GridEnvelope(
        kind="dead_letter",
        grid_id=dead_letter_key(record),
        origin=record.origin,
        dead_letter=DeadLetterBody(
            kind=kind,
            message=_storable(message),
            key=_b64(_kept_key(_protected_key(record, hasher))),
            value=_b64(_kept(_protected_bytes(record.value, hasher))),
        ),
    )


def route(
    record: RawRecord,
    city: CityView,
    hasher: KeyedHasher,
    received_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> GridEnvelope:
    """`received_at` is the intake's clock: `occurred_at` is held to the limits' window
    around it (docs/contract.md)."""
    try:
        event = parse_inbound(
            record.topic, record.key, record.value, record.headers, limits, received_at
        )
    except IntakeError as error:
        return dead_letter(record, error.kind, error.message, hasher)
    match event:
        case CaseUpdate():
            grid_id, separator, _ = event.case_id.rpartition(CASE_GRID_SEPARATOR)
            if not separator or not grid_id:
                return dead_letter(
                    record,
                    DeadLetterKind.UNKNOWN_CASE,
                    f"no case has the id {event.case_id!r}",
                    hasher,
                )
            # the roster is looked up by the clear id, before a person's id is hashed
            enrichment = _update_enrichment(city, grid_id, event)
            listed = enrichment.actor
            office_holder = listed is not None and listed.kind in OFFICE_HOLDERS
            return _envelope(
                record, "case_update", grid_id, event, hasher, enrichment, office_holder
            )
        case Patrol():
            if event.grid_id not in city.grids:
                return dead_letter(
                    record,
                    DeadLetterKind.UNKNOWN_GRID,
                    f"grid {event.grid_id!r} is not registered",
                    hasher,
                )
            return _envelope(record, "patrol", event.grid_id, event, hasher, None)
        case Scan():
            placement = city.place(event.code, None, event.lat, event.lon)
        case Report():
            placement = city.place(event.code, event.grid_id, event.lat, event.lon)
    if placement.refused is not None:
        return dead_letter(record, DeadLetterKind.UNKNOWN_GRID, placement.refused, hasher)
    if placement.grid_id is None:
        return dead_letter(
            record,
            DeadLetterKind.UNPLACEABLE,
            "the code is not registered and the event has no grid_id or lat/lon to place it",
            hasher,
        )
    enrichment = _enrichment(city, placement, event)
    kind = "scan" if isinstance(event, Scan) else "report"
    return _envelope(record, kind, placement.grid_id, event, hasher, enrichment)


def _enrichment(city: CityView, placement: Placement, event: Scan | Report) -> Enrichment:
    assert placement.grid_id is not None
    grid = city.grids.get(placement.grid_id)
    code = placement.code
    authorised = None
    if isinstance(event, Scan) and event.scanner_role is Role.GRID_WORKER:
        # checked on the clear id, before it is replaced by its hash
        authorised = city.worker_authorised(event.scanner_id, placement.grid_id)
    return Enrichment(
        placed_by=placement.how,
        unknown_code=placement.unknown_code,
        element_type=code.element_type if code else None,
        kind=code.kind if code else None,
        owner=code.owner if code else None,
        community=grid.community if grid else None,
        street=grid.street if grid else None,
        district=grid.district if grid else None,
        authorised=authorised,
    )


def _update_enrichment(city: CityView, grid_id: str, update: CaseUpdate) -> Enrichment:
    """The case grid's parent rungs and the actor's roster entry: all the grid stage needs
    to authorise the update (civicgrid/domain/authority.py)."""
    grid = city.grids.get(grid_id)
    return Enrichment(
        placed_by="case_id",
        community=grid.community if grid else None,
        street=grid.street if grid else None,
        district=grid.district if grid else None,
        actor=city.actors.get(update.actor_id),
    )


def _envelope(
    record: RawRecord,
    kind: str,
    grid_id: str,
    event: InboundEvent,
    hasher: KeyedHasher,
    enrichment: Enrichment | None,
    office_holder: bool = False,
) -> GridEnvelope:
    return GridEnvelope.model_validate(
        {
            "kind": kind,
            "grid_id": grid_id,
            "origin": record.origin,
            kind: protect_event(event, hasher, office_holder),
            "enrichment": enrichment,
        }
    )


def _protected_bytes(value: bytes | None, hasher: KeyedHasher | None) -> bytes | None:
    """Dead letters keep the original bytes, but no identity or personal number in clear.

    Invalid UTF-8 is protected too (a stray byte must not let a mobile number through): the
    undecodable bytes ride through as lone surrogates and come back out unchanged.
    """
    if value is None:
        return None
    text = value.decode("utf-8", "surrogateescape")
    return protect_original(text, hasher).encode("utf-8", "surrogateescape")


def _protected_key(record: RawRecord, hasher: KeyedHasher | None) -> bytes | None:
    """Keys are masked too: a bad key can be a phone number typed into the wrong field; a
    patrol's key is its worker's id (SPEC §2), a person's, so it is hashed."""
    if record.key is None:
        return None
    text = record.key.decode("utf-8", "surrogateescape")
    if record.topic in _PERSON_KEYED:
        hashed = WITHHELD if hasher is None else hasher.hash(text)
        return hashed.encode()
    return mask_text(text).encode("utf-8", "surrogateescape")


# topics keyed by a person's id: the dead letter's key is its keyed hash
_PERSON_KEYED = frozenset({topics.PATROLS.name, topics.RESIDENTS.name, topics.PRESENCE.name})


def _kept(value: bytes | None) -> bytes | None:
    """At most the first VALUE_BYTES_CEILING bytes of a dead-lettered value (cut after
    masking, so no number is cut out of its mask): a 900 KB description's dead letter once
    made a 1.2 MB internal record, which the broker refuses, and stopped all intake."""
    return None if value is None else value[:VALUE_BYTES_CEILING]


def _kept_key(key: bytes | None) -> bytes | None:
    """At most the first MAX_KEY_BYTES of a dead letter's key (a longer key is refused
    anyway): the hostile corpus's 900 KB key made a 1.2 MB dead letter that no cut of its
    original shrank, so the broker refused it for good and the worker stopped on it."""
    return None if key is None else key[:MAX_KEY_BYTES]


def _storable(message: str) -> str:
    """A reason PostgreSQL can store and anyone may read.

    Validation messages may quote a character of the input (pydantic names the one it choked
    on), and text columns take neither NUL nor lone surrogates: one such message failed the
    whole sink batch. Masked like everything else that leaves the edge.
    """
    text = message.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return mask_text(text)


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")
