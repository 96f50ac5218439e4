"""Inbound topic values (SPEC §2): the four event topics and the two compacted state topics."""

from datetime import date
from typing import Annotated, ClassVar, Self

from pydantic import Field, JsonValue, StringConstraints, model_validator

from civicgrid.schemas.common import (
    MAX_PHOTOS,
    CategoryCode,
    EventModel,
    FreeText,
    Identifier,
    InboundModel,
    Latitude,
    Longitude,
    Name,
    PhotoUrl,
    SchemaVersion,
)
from civicgrid.schemas.enums import (
    ActorKind,
    CaseAction,
    Channel,
    ElementType,
    HouseholdRole,
    Level,
    PatrolKind,
    PresenceKind,
    PresenceSource,
    RegistrationStatus,
    Role,
    Satisfaction,
    ScanPurpose,
    Severity,
    StatusReason,
    Supervision,
)
from civicgrid.schemas.limits import VERTICES_CEILING


def _check_coordinates(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise ValueError("lat and lon must be given together")


class Scan(EventModel):
    TOPIC: ClassVar[str] = "civic.scans.v1"
    CE_TYPE: ClassVar[str] = "civic.scan.v1"
    KEY_FIELD: ClassVar[str] = "code"

    code: Identifier
    scanner_id: Identifier
    scanner_role: Role
    purpose: ScanPurpose
    lat: Latitude | None = None
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _coordinates(self) -> Self:
        _check_coordinates(self.lat, self.lon)
        return self


# JSON Schema of Report's cross-field rules, so app teams can check them before publishing.
_NUMBER: dict[str, JsonValue] = {"type": "number"}
_STRING: dict[str, JsonValue] = {"type": "string"}
_REPORT_RULES: dict[str, JsonValue] = {
    "anyOf": [
        {"required": ["code"], "properties": {"code": _STRING}},
        {"required": ["grid_id"], "properties": {"grid_id": _STRING}},
        {"required": ["lat", "lon"], "properties": {"lat": _NUMBER, "lon": _NUMBER}},
    ],
    "allOf": [
        {
            "if": {"required": [a], "properties": {a: _NUMBER}},
            "then": {"required": [b], "properties": {b: _NUMBER}},
        }
        for a, b in (("lat", "lon"), ("lon", "lat"))
    ],
}


class Report(EventModel):
    model_config = EventModel.model_config | {"json_schema_extra": _REPORT_RULES}

    TOPIC: ClassVar[str] = "civic.reports.v1"
    CE_TYPE: ClassVar[str] = "civic.report.v1"
    KEY_FIELD: ClassVar[str] = "code"

    channel: Channel
    code: Identifier | None = None
    grid_id: Identifier | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    category_hint: CategoryCode | None = None
    description: Annotated[FreeText, Field(min_length=1)]
    reporter_id: Identifier
    reporter_role: Role
    photos: Annotated[tuple[PhotoUrl, ...], Field(max_length=MAX_PHOTOS)] = ()
    # SPEC §10: the case waits in VERIFYING until a grid worker or operator verifies (核实)
    needs_verification: bool = False

    @model_validator(mode="after")
    def _placeable(self) -> Self:
        _check_coordinates(self.lat, self.lon)
        if self.code is None and self.grid_id is None and self.lat is None:
            raise ValueError("a report needs at least one of code, grid_id, or lat and lon")
        return self

    def expected_keys(self) -> dict[str, str]:
        # Located only by coordinates: SPEC §2 names no key for that case, so any key will do.
        keys = {"code": self.code, "grid_id": self.grid_id}
        return {field: key for field, key in keys.items() if key is not None}


class Patrol(EventModel):
    TOPIC: ClassVar[str] = "civic.patrols.v1"
    CE_TYPE: ClassVar[str] = "civic.patrol.v1"
    KEY_FIELD: ClassVar[str] = "worker_id"

    worker_id: Identifier
    grid_id: Identifier
    kind: PatrolKind
    code: Identifier | None = None
    household_id: Identifier | None = None
    case_id: Identifier | None = None
    note: FreeText | None = None


# JSON Schema of CaseUpdate's cross-field rule for `reclassify` (docs/contract.md).
_NULL: dict[str, JsonValue] = {"type": "null"}
_UPDATE_RULES: dict[str, JsonValue] = {
    "if": {"required": ["action"], "properties": {"action": {"const": "reclassify"}}},
    "then": {"required": ["category"], "properties": {"category": _STRING}},
    "else": {"properties": {"category": _NULL, "severity": _NULL}},
}


class CaseUpdate(EventModel):
    model_config = EventModel.model_config | {"json_schema_extra": _UPDATE_RULES}

    TOPIC: ClassVar[str] = "civic.case-updates.v1"
    CE_TYPE: ClassVar[str] = "civic.case-update.v1"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Identifier
    actor_id: Identifier
    actor_kind: ActorKind
    action: CaseAction
    note: FreeText | None = None
    supervision: Supervision | None = None  # the 督办 card of a `supervise`, only there
    # only with `evaluate`: 不满意 soon after closing reopens the case (the city's setting)
    satisfaction: Satisfaction | None = None
    # the corrected category of a `reclassify`, only there; severity optional with it
    category: CategoryCode | None = None
    severity: Severity | None = None

    @model_validator(mode="after")
    def _card(self) -> Self:
        if (self.action is CaseAction.SUPERVISE) != (self.supervision is not None):
            raise ValueError("supervision is given with the supervise action, and only there")
        if self.satisfaction is not None and self.action is not CaseAction.EVALUATE:
            raise ValueError("satisfaction is given only with action evaluate")
        if (self.action is CaseAction.RECLASSIFY) != (self.category is not None):
            raise ValueError("category is given with the reclassify action, and only there")
        if self.severity is not None and self.action is not CaseAction.RECLASSIFY:
            raise ValueError("severity is given only with the reclassify action")
        return self


# Attribute values ride into events' enrichment (jsonb) and case data: no NUL (PostgreSQL
# refuses it, and one code with it made every event on that code fail), bounded lengths, and
# integers a bigint holds.
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")]
    | Annotated[int, Field(ge=-(2**63), lt=2**63)]
    | float
    | bool
    | None
)


class RegistryRecord(InboundModel):
    """A code registration (四码); state keyed by code, a tombstone deletes it."""

    TOPIC: ClassVar[str] = "civic.registry.v1"
    KEY_FIELD: ClassVar[str] = "code"

    # State records carry no version in SPEC §2; one that does is still checked.
    schema_version: SchemaVersion = 1
    code: Identifier
    element_type: ElementType
    # Open vocabulary ("doorplate", "manhole_cover", ...): new kinds need no release.
    kind: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    grid_id: Identifier
    name: Name | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    attributes: Annotated[dict[AttributeKey, AttributeValue], Field(max_length=64)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _coordinates(self) -> Self:
        _check_coordinates(self.lat, self.lon)
        return self


Point = tuple[Longitude, Latitude]


class GridRecord(InboundModel):
    """A grid (网格) with the names of its parent rungs; state keyed by grid_id."""

    TOPIC: ClassVar[str] = "civic.grids.v1"
    KEY_FIELD: ClassVar[str] = "grid_id"

    schema_version: SchemaVersion = 1
    grid_id: Identifier
    name: Name
    community: Name
    street: Name
    district: Name
    city: Name
    neighbours: Annotated[tuple[Identifier, ...], Field(max_length=64)] = ()
    worker_ids: Annotated[tuple[Identifier, ...], Field(max_length=256)] = ()
    households: Annotated[int, Field(ge=0)] = 0
    # a deployment's vertex, extent and area limits are checked at the edge (schemas/limits.py)
    polygon: (
        Annotated[tuple[Point, ...], Field(min_length=4, max_length=VERTICES_CEILING)] | None
    ) = None

    @model_validator(mode="after")
    def _closed_ring(self) -> Self:
        if self.polygon is not None and self.polygon[0] != self.polygon[-1]:
            raise ValueError("polygon must be a closed ring: the last point equals the first")
        if self.grid_id in self.neighbours:
            raise ValueError("a grid cannot be its own neighbour")
        return self


# The names a rung's operator is scoped by, lowest rung first: a rung needs its own name and
# those of the rungs above it (a street's name alone is ambiguous across districts).
_RUNG_NAMES: dict[Level, tuple[str, ...]] = {
    Level.COMMUNITY: ("community", "street", "district"),
    Level.STREET: ("street", "district"),
    Level.DISTRICT: ("district",),
    Level.CITY: (),
}


class ActorRecord(InboundModel):
    """An actor of the roster (SPEC §10 civic.actors.v1) that case updates are authorised
    against; state keyed by actor_id, a tombstone removes the actor.

    The scope is territorial (`grids`, or the `community` / `street` / `district` names of
    civic.grids.v1) and, for departments, by department: see docs/contract.md. Residents are
    not listed: what a resident may do follows from their own reports.
    """

    TOPIC: ClassVar[str] = "civic.actors.v1"
    KEY_FIELD: ClassVar[str] = "actor_id"

    schema_version: SchemaVersion = 1
    actor_id: Identifier
    kind: ActorKind
    name: Name | None = None
    rung: Level | None = None  # operators: the rung of the ladder they sit on
    grids: Annotated[tuple[Identifier, ...], Field(max_length=256)] = ()
    community: Name | None = None
    street: Name | None = None
    district: Name | None = None
    departments: Annotated[tuple[Identifier, ...], Field(max_length=64)] = ()

    @model_validator(mode="after")
    def _scoped(self) -> Self:
        if self.kind is ActorKind.RESIDENT:
            raise ValueError("residents are not listed on the roster")
        if self.kind is ActorKind.GRID_WORKER and not self.grids:
            raise ValueError("a grid worker needs the grids they are authorised for")
        if self.kind is ActorKind.DEPARTMENT and not self.departments:
            raise ValueError("a department actor needs the departments it acts for")
        if self.kind is ActorKind.OPERATOR:
            if self.rung is None:
                raise ValueError("an operator needs a rung")
            if self.rung is Level.GRID and not self.grids:
                raise ValueError("a grid-rung operator needs grids")
            missing = [n for n in _RUNG_NAMES.get(self.rung, ()) if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a {self.rung.value} operator needs {', '.join(missing)}")
        elif self.rung is not None:
            raise ValueError("only operators have a rung")
        return self


class Registration(InboundModel):
    """One household entry of a person (户口登记): current or past."""

    household_id: Identifier  # 户号; hashed at intake like the person code
    place_code: Identifier  # the registered place: a code of civic.registry.v1
    role: HouseholdRole
    status: RegistrationStatus
    registered_on: date
    status_reason: StatusReason | None = None
    status_on: date | None = None  # when it was moved out or deregistered

    @model_validator(mode="after")
    def _closed(self) -> Self:
        closed = self.status is not RegistrationStatus.REGISTERED
        if closed != (self.status_reason is not None) or closed != (self.status_on is not None):
            raise ValueError(
                "status_reason and status_on are given for a moved-out or deregistered entry, "
                "and only there"
            )
        if self.status_on is not None and self.status_on < self.registered_on:
            raise ValueError("status_on is before registered_on")
        return self


class ResidentRecord(InboundModel):
    """A person's household registrations (SPEC §10 issue 21 civic.residents.v1); state keyed
    by person_code, a tombstone forgets the person.

    All of a person's entries travel together, so one person in two households is visible
    as two `registered` entries rather than as two records racing under one key.
    """

    TOPIC: ClassVar[str] = "civic.residents.v1"
    KEY_FIELD: ClassVar[str] = "person_code"

    schema_version: SchemaVersion = 1
    person_code: Identifier  # hashed at intake (SPEC §8): never stored or published in clear
    born_on: date | None = None
    registrations: Annotated[tuple[Registration, ...], Field(max_length=32)] = ()


# Which observation kinds each source can make: a scan or a bill only shows someone there.
_SOURCE_KINDS: dict[PresenceSource, frozenset[PresenceKind]] = {
    PresenceSource.HOME_VISIT: frozenset(
        {PresenceKind.PRESENT, PresenceKind.ABSENT, PresenceKind.DIED}
    ),
    PresenceSource.VENUE_SCAN: frozenset({PresenceKind.PRESENT}),
    PresenceSource.RENTAL_REGISTRATION: frozenset({PresenceKind.PRESENT}),
    PresenceSource.UTILITY_ACCOUNT: frozenset({PresenceKind.PRESENT}),
    PresenceSource.DEATH_RECORD: frozenset({PresenceKind.DIED}),
    PresenceSource.EXIT_RECORD: frozenset({PresenceKind.EMIGRATED}),
    PresenceSource.TRANSFER_NOTICE: frozenset({PresenceKind.REGISTERED_ELSEWHERE}),
}
_PLACED_KINDS = frozenset({PresenceKind.PRESENT, PresenceKind.ABSENT})


class PresenceObservation(EventModel):
    """An observation that a person lives (or does not live) at a place (civic.presence.v1);
    `occurred_at` is when it was observed, which may be long before it is published."""

    TOPIC: ClassVar[str] = "civic.presence.v1"
    CE_TYPE: ClassVar[str] = "civic.presence.v1"
    KEY_FIELD: ClassVar[str] = "person_code"

    person_code: Identifier  # hashed at intake (SPEC §8)
    source: PresenceSource
    kind: PresenceKind = PresenceKind.PRESENT
    place_code: Identifier | None = None  # a code of civic.registry.v1
    observer_id: Identifier | None = None  # the grid worker of a home visit; hashed at intake
    born_on: date | None = None  # as a census visit records it, for people not registered

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind not in _SOURCE_KINDS[self.source]:
            raise ValueError(f"a {self.source.value} cannot observe {self.kind.value}")
        if self.kind in _PLACED_KINDS and self.place_code is None:
            raise ValueError(f"a {self.kind.value} observation needs a place_code")
        return self


HOUSEHOLD_MODELS: tuple[type[ResidentRecord] | type[PresenceObservation], ...] = (
    ResidentRecord,
    PresenceObservation,
)

InboundEvent = Scan | Report | Patrol | CaseUpdate
StateRecord = RegistryRecord | GridRecord | ActorRecord
EVENT_MODELS: tuple[type[EventModel], ...] = (Scan, Report, Patrol, CaseUpdate)
STATE_MODELS: tuple[type[RegistryRecord] | type[GridRecord] | type[ActorRecord], ...] = (
    RegistryRecord,
    GridRecord,
    ActorRecord,
)
