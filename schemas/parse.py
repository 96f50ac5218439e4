"""The one edge parser: raw Kafka records in, validated models or a dead-letter reason out.

Every inbound record is parsed here exactly once. The happy path is a single
`model_validate_json` call (parse and validate in one pass, in Rust); the reason for a
failure is only worked out once validation has failed, so valid traffic pays nothing for it.
"""

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from civicgrid.schemas.common import UNSUPPORTED_VERSION_ERROR, EventModel
from civicgrid.schemas.enums import DeadLetterKind
from civicgrid.schemas.inbound import (
    EVENT_MODELS,
    STATE_MODELS,
    GridRecord,
    InboundEvent,
    PresenceObservation,
    ResidentRecord,
    StateRecord,
)
from civicgrid.schemas.limits import DEFAULT_LIMITS, Limits

MAX_KEY_BYTES = 256
_MAX_REPORTED_ERRORS = 3

_EVENTS: dict[str, type[EventModel]] = {m.TOPIC: m for m in EVENT_MODELS}
_STATES: dict[str, type[StateRecord]] = {m.TOPIC: m for m in STATE_MODELS}


class IntakeError(Exception):
    """A record that cannot be processed; `kind` and `message` go to the dead-letter topic."""

    def __init__(self, kind: DeadLetterKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def parse_inbound(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    limits: Limits = DEFAULT_LIMITS,
    received_at: datetime | None = None,
) -> InboundEvent:
    """Validate one event record; raise IntakeError with the dead-letter kind if it is bad.

    `occurred_at` is held to the limits' window around `received_at` when that is given (the
    intake gives its clock; a record judged on its own has no receive time).
    A topic that is not an inbound event topic is a wiring mistake and raises KeyError.
    """
    model = _EVENTS[topic]
    event = _validate(model, value, limits)
    _check_key(event.expected_keys(), key)
    _check_cloudevents(event, headers)
    if received_at is not None:
        _check_window(event, received_at, limits)
    # The union is closed: _EVENTS holds only its members.
    return event  # type: ignore[return-value]


def parse_state(
    topic: str, key: bytes | None, value: bytes | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[str, StateRecord | None]:
    """Validate one compacted-state record: its key, and the record or None for a tombstone
    (delete the key). State is keyed, so a keyless record, tombstone or not, is refused."""
    model = _STATES[topic]
    name = _decode_key(key)
    if not name:
        raise IntakeError(
            DeadLetterKind.BAD_KEY, f"key is missing; state is keyed by {model.KEY_FIELD}"
        )
    if value is None:
        return name, None
    record = _validate(model, value, limits)
    _check_key({model.KEY_FIELD: str(getattr(record, model.KEY_FIELD))}, key)
    if isinstance(record, GridRecord):
        _check_polygon(record, limits)
    return name, record


def parse_resident(
    key: bytes | None, value: bytes | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[str, ResidentRecord | None]:
    """Validate one civic.residents.v1 record (compacted, keyed by person code): the key
    (in clear: the caller hashes it) and the record, or None for a tombstone."""
    name = _decode_key(key)
    if not name:
        raise IntakeError(DeadLetterKind.BAD_KEY, "key is missing; state is keyed by person_code")
    if value is None:
        return name, None
    record = _validate(ResidentRecord, value, limits)
    _check_key({"person_code": record.person_code}, key)
    return name, record


def parse_presence(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    limits: Limits = DEFAULT_LIMITS,
    received_at: datetime | None = None,
) -> PresenceObservation:
    """Validate one civic.presence.v1 observation, held to the same key, CloudEvents and
    `occurred_at` rules as every inbound event."""
    event = _validate(PresenceObservation, value, limits)
    _check_key({"person_code": event.person_code}, key)
    _check_cloudevents(event, headers)
    if received_at is not None:
        _check_window(event, received_at, limits)
    return event


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], value: bytes | None, limits: Limits) -> _M:
    if value is None:
        raise IntakeError(DeadLetterKind.SCHEMA, "value is null; an event needs a JSON object")
    if len(value) > limits.value_bytes:
        raise IntakeError(
            DeadLetterKind.OVERSIZE,
            f"value is {len(value)} bytes; the limit is {limits.value_bytes}",
        )
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise _classify(value, exc.errors(include_url=False, include_input=False)) from None


def _check_window(event: EventModel, received_at: datetime, limits: Limits) -> None:
    """occurred_at within [received_at - max_age, received_at + max_lead]: a report dated
    1900 once opened a case whose SLA timer failed on every tick of its grid."""
    lead = event.occurred_at - received_at
    if -limits.max_age <= lead <= limits.max_lead:
        return
    where = f"{_span(-lead)} before" if lead < timedelta() else f"{_span(lead)} after"
    raise IntakeError(
        DeadLetterKind.OUT_OF_WINDOW,
        f"occurred_at is {where} the receive time; accepted are {_span(limits.max_age)} "
        f"before to {_span(limits.max_lead)} after",
    )


def _span(length: timedelta) -> str:
    if length >= timedelta(days=2):
        return f"{length.days} days"
    return f"{length.total_seconds() / 3600:g} hours"


_KM_PER_DEG = 111.195  # a degree of latitude on the mean Earth radius


def _check_polygon(grid: GridRecord, limits: Limits) -> None:
    """A deployment's vertex, extent and area limits, checked in O(vertices) before the
    polygon is indexed: one of 15 x 15 degrees once took a worker to 938 MB of index and
    blocked its loop for 3.5 s."""
    ring = grid.polygon
    if ring is None:
        return
    if len(ring) > limits.grid_vertices:
        raise IntakeError(
            DeadLetterKind.OVERSIZE,
            f"polygon has {len(ring)} points; the limit is {limits.grid_vertices}",
        )
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    # an equirectangular projection at the box's middle latitude: exact enough for a limit
    shrink = math.cos(math.radians((min(lats) + max(lats)) / 2))
    width = (max(lons) - min(lons)) * _KM_PER_DEG * shrink
    height = (max(lats) - min(lats)) * _KM_PER_DEG
    if max(width, height) > limits.grid_extent_km:
        raise IntakeError(
            DeadLetterKind.OVERSIZE,
            f"polygon spans {width:.1f} x {height:.1f} km; the limit is "
            f"{limits.grid_extent_km:g} km a side",
        )
    twice = sum(lons[i] * lats[i + 1] - lons[i + 1] * lats[i] for i in range(len(ring) - 1))
    area = abs(twice) / 2 * _KM_PER_DEG**2 * shrink
    if area > limits.grid_area_km2:
        raise IntakeError(
            DeadLetterKind.OVERSIZE,
            f"polygon encloses {area:.1f} km2; the limit is {limits.grid_area_km2:g} km2",
        )


def _classify(value: bytes, errors: list[ErrorDetails]) -> IntakeError:
    """Name the first failed check, in the order UTF-8, JSON, object, version, schema."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return IntakeError(DeadLetterKind.INVALID_UTF8, f"value is not UTF-8 (byte {exc.start})")
    # orjson holds to RFC 8259; the validator's own parser also takes NaN and Infinity.
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return IntakeError(DeadLetterKind.INVALID_JSON, f"invalid JSON: {exc}")
    if not isinstance(document, dict):
        return IntakeError(DeadLetterKind.INVALID_JSON, "value must be a JSON object")
    for error_type, kind in (
        ("json_invalid", DeadLetterKind.INVALID_JSON),
        (UNSUPPORTED_VERSION_ERROR, DeadLetterKind.UNSUPPORTED_VERSION),
    ):
        first = next((e for e in errors if e["type"] == error_type), None)
        if first is not None:
            return IntakeError(kind, first["msg"])
    # JSON can carry NUL only as the escape \u0000; said plainly, not as the pattern refusing it
    has_nul = b"\\u0000" in value
    shown = "; ".join(_describe(e, has_nul) for e in errors[:_MAX_REPORTED_ERRORS])
    more = len(errors) - _MAX_REPORTED_ERRORS
    return IntakeError(DeadLetterKind.SCHEMA, shown + (f" (+{more} more)" if more > 0 else ""))


def _describe(error: ErrorDetails, has_nul: bool) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "value"
    pattern = str((error.get("ctx") or {}).get("pattern", ""))
    if has_nul and error["type"] == "string_pattern_mismatch" and "\\x00" in pattern:
        return f"{where}: contains NUL (\\u0000), which PostgreSQL cannot store"
    return f"{where}: {error['msg']}"


def _decode_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    if len(key) > MAX_KEY_BYTES:
        raise IntakeError(DeadLetterKind.BAD_KEY, f"key is longer than {MAX_KEY_BYTES} bytes")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(DeadLetterKind.BAD_KEY, "key is not UTF-8") from None


def _check_key(expected: dict[str, str], key: bytes | None) -> None:
    text = _decode_key(key)
    if not expected:
        return
    fields = " or ".join(expected)
    if not text:
        raise IntakeError(DeadLetterKind.BAD_KEY, f"key is missing; it must equal {fields}")
    if text not in expected.values():
        # The key itself is not echoed: keys can be worker ids, which are personal data.
        raise IntakeError(DeadLetterKind.BAD_KEY, f"key does not equal {fields}")


def _check_cloudevents(event: EventModel, headers: Sequence[tuple[str, bytes | None]]) -> None:
    """Binary-mode CloudEvents attributes are optional, but when present must agree."""
    for name, raw in headers:
        if not name.startswith("ce_"):
            continue
        check = _CE_CHECKS.get(name)
        if check is None:
            continue
        try:
            # Kafka allows a null header value; it then fails the check as an empty string.
            text = "" if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            raise IntakeError(
                DeadLetterKind.CLOUDEVENTS_MISMATCH, f"header {name} is not UTF-8"
            ) from None
        problem = check(event, text)
        if problem is not None:
            raise IntakeError(DeadLetterKind.CLOUDEVENTS_MISMATCH, f"header {name} {problem}")


def _ce_id(event: EventModel, text: str) -> str | None:
    try:
        same = UUID(text) == event.event_id
    except ValueError:
        return "is not a UUID"
    return None if same else "does not equal event_id"


def _ce_time(event: EventModel, text: str) -> str | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return "is not an RFC 3339 time"
    if when.tzinfo is None:
        return "has no UTC offset"
    return None if when == event.occurred_at else "does not equal occurred_at"


def _ce_type(event: EventModel, text: str) -> str | None:
    return None if text == event.CE_TYPE else f"must be {event.CE_TYPE!r} on {event.TOPIC}"


def _ce_source(event: EventModel, text: str) -> str | None:
    return None if text else "is empty"


_CE_CHECKS: dict[str, Callable[[EventModel, str], str | None]] = {
    "ce_id": _ce_id,
    "ce_time": _ce_time,
    "ce_type": _ce_type,
    "ce_source": _ce_source,
}
