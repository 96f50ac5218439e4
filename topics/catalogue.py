"""Every topic civicgrid reads or writes, with the settings used when it creates them."""

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from civicgrid.schemas.inbound import (
    ActorRecord,
    CaseUpdate,
    GridRecord,
    Patrol,
    PresenceObservation,
    RegistryRecord,
    Report,
    ResidentRecord,
    Scan,
)
from civicgrid.schemas.outbound import (
    Alert,
    Assessment,
    CaseSnapshot,
    DeadLetter,
    GridDispatch,
    NetworkDispatch,
)

Direction = Literal["in", "out", "internal"]

_DAY_MS = 24 * 60 * 60 * 1000
_EVENT_RETENTION_MS = 7 * _DAY_MS
# Dead letters wait for a person to look at them, which can take weeks.
_DEADLETTER_RETENTION_MS = 30 * _DAY_MS


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key_field: str
    value_model: type[BaseModel] | None  # None: the value is internal, no published schema
    partitions: int | None  # None: the configured default
    compacted: bool
    retention_ms: int | None  # None: kept forever (compacted state)
    direction: Direction
    description: str


def _event(model: type[Scan | Report | Patrol | CaseUpdate], key: str, what: str) -> TopicSpec:
    return TopicSpec(model.TOPIC, key, model, None, False, _EVENT_RETENTION_MS, "in", what)


def _state(model: type[RegistryRecord | GridRecord | ActorRecord], what: str) -> TopicSpec:
    return TopicSpec(model.TOPIC, model.KEY_FIELD, model, None, True, None, "in", what)


def _out(model: type[BaseModel], topic: str, key: str, what: str) -> TopicSpec:
    return TopicSpec(topic, key, model, None, False, _EVENT_RETENTION_MS, "out", what)


SCANS = _event(Scan, "code", "QR scans of governed elements")
REPORTS = _event(Report, "code", "problem reports; keyed by code, or grid_id without a code")
PATROLS = _event(Patrol, "worker_id", "grid workers' patrols, visits, rectifications, checks")
CASE_UPDATES = _event(CaseUpdate, "case_id", "steps on a case by departments and workers")
REGISTRY = _state(RegistryRecord, "code registrations (四码); a tombstone deletes")
GRIDS = _state(GridRecord, "grids (网格) with parents, neighbours, workers, polygon")
ACTORS = _state(ActorRecord, "the roster case updates are authorised against; a tombstone deletes")
# Issue 21: read by the household reconciliation only, not by intake or the state mirror.
RESIDENTS = TopicSpec(
    ResidentRecord.TOPIC,
    ResidentRecord.KEY_FIELD,
    ResidentRecord,
    None,
    True,
    None,
    "in",
    "a person's household registrations (户口), keyed by person code; a tombstone forgets",
)
PRESENCE = TopicSpec(
    PresenceObservation.TOPIC,
    PresenceObservation.KEY_FIELD,
    PresenceObservation,
    None,
    False,
    _EVENT_RETENTION_MS,
    "in",
    "observations that a person lives at a place: visits, scans, rentals, utilities, records",
)
CASES = _out(CaseSnapshot, CaseSnapshot.TOPIC, "case_id", "full case snapshot after each change")
DISPATCH_GRID = _out(GridDispatch, GridDispatch.TOPIC, "grid_id", "small matters for the grid")
DISPATCH_NETWORK = _out(
    NetworkDispatch, NetworkDispatch.TOPIC, "case_id", "linkage tasks for departments"
)
ALERTS = _out(Alert, Alert.TOPIC, "grid_id", "early warnings")
ASSESSMENTS = _out(Assessment, Assessment.TOPIC, "subject_id", "grid worker and department scores")
DEADLETTER = TopicSpec(
    DeadLetter.TOPIC,
    "original key",
    DeadLetter,
    None,
    False,
    _DEADLETTER_RETENTION_MS,
    "out",
    "inbound records that could not be processed, with their bytes and the reason",
)
BY_GRID = TopicSpec(
    "civic.internal.by-grid.v1",
    "grid_id",
    None,
    None,
    False,
    _EVENT_RETENTION_MS,
    "internal",
    "validated, masked inbound events repartitioned by grid for the grid stage",
)
BY_PERSON = TopicSpec(
    "civic.internal.by-person.v1",
    "bucket of the person's hash",
    None,
    None,
    False,
    _EVENT_RETENTION_MS,
    "internal",
    "household registrations and observations, hashed, repartitioned by person (issue 21)",
)

CATALOGUE: tuple[TopicSpec, ...] = (
    SCANS,
    REPORTS,
    PATROLS,
    CASE_UPDATES,
    REGISTRY,
    GRIDS,
    ACTORS,
    RESIDENTS,
    PRESENCE,
    CASES,
    DISPATCH_GRID,
    DISPATCH_NETWORK,
    ALERTS,
    ASSESSMENTS,
    DEADLETTER,
    BY_GRID,
    BY_PERSON,
)
_BY_NAME = {spec.name: spec for spec in CATALOGUE}


def by_name(name: str) -> TopicSpec:
    """The topic called `name`; KeyError for a topic that is not in the contract."""
    return _BY_NAME[name]


def inbound_events() -> tuple[TopicSpec, ...]:
    return (SCANS, REPORTS, PATROLS, CASE_UPDATES)


def household_topics() -> tuple[TopicSpec, ...]:
    return (RESIDENTS, PRESENCE)


def state_topics() -> tuple[TopicSpec, ...]:
    return (REGISTRY, GRIDS, ACTORS)
