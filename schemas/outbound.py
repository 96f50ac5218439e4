"""Outbound topic values (SPEC §2): what downstream systems and monitoring teams receive."""

import base64
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from civicgrid.schemas.common import OutboundModel, Timestamp
from civicgrid.schemas.enums import (
    AlertKind,
    CaseState,
    DeadLetterKind,
    Grade,
    Level,
    Severity,
    SubjectKind,
)

Count = Annotated[int, Field(ge=0)]


class CaseSnapshot(OutboundModel):
    """The full case after every change; consumers keep the highest `version` per case_id."""

    TOPIC: ClassVar[str] = "civic.cases.v1"

    case_id: str
    case_code: str
    version: Annotated[int, Field(ge=1)]
    state: CaseState
    level: Level
    category: str
    severity: Severity
    grid_id: str
    departments: tuple[str, ...]
    deadline: Timestamp | None
    event_ids: tuple[UUID, ...]
    duplicate_count: Count
    updated_at: Timestamp


class GridDispatch(OutboundModel):
    """A small matter for the grid's own workers (小事一格解决)."""

    TOPIC: ClassVar[str] = "civic.dispatch.grid.v1"

    case_id: str
    case_code: str
    grid_id: str
    category: str
    severity: Severity
    deadline: Timestamp | None
    withdrawn: bool = Field(
        default=False,
        description="true: this task (as it was given, unchanged) is no longer its owners'; "
        "the case was reclassified and dispatched anew (docs/contract.md)",
    )


class NetworkDispatch(OutboundModel):
    """A linkage task for several departments (大事全网联动)."""

    TOPIC: ClassVar[str] = "civic.dispatch.network.v1"

    case_id: str
    case_code: str
    grid_id: str
    category: str
    severity: Severity
    level: Level
    lead_department: str
    co_departments: tuple[str, ...]
    reason: str
    deadline: Timestamp | None
    withdrawn: bool = Field(
        default=False,
        description="true: this task (as it was given, unchanged) is no longer its owners'; "
        "the case was reclassified and dispatched anew (docs/contract.md)",
    )


class Window(OutboundModel):
    """A half-open time interval [start, end)."""

    start: Timestamp
    end: Timestamp


class Alert(OutboundModel):
    """An early warning; names what was observed against what was expected, and when."""

    TOPIC: ClassVar[str] = "civic.alerts.v1"

    kind: AlertKind
    grid_id: str
    grid_ids: tuple[str, ...] = Field(
        default=(), description="every grid the alert names, grid_id first (a cluster: all)"
    )
    category: str | None
    observed: float
    expected: float
    score: float
    window: Window


class Assessment(OutboundModel):
    """A score snapshot (量化考核) of a grid worker or a department over a period."""

    TOPIC: ClassVar[str] = "civic.assessments.v1"

    subject_id: str
    subject_kind: SubjectKind
    period: Window
    indicators: dict[str, float]
    score: float
    grade: Grade


class DeadLetter(OutboundModel):
    """An inbound message that could not be processed, with its original bytes and why."""

    TOPIC: ClassVar[str] = "civic.deadletter.v1"

    value: str | None = Field(description="the original value bytes, base64; null for a tombstone")
    topic: str
    partition: int
    offset: int
    kind: DeadLetterKind
    message: str

    @classmethod
    def of(
        cls,
        *,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        kind: DeadLetterKind,
        message: str,
    ) -> "DeadLetter":
        encoded = None if value is None else base64.b64encode(value).decode("ascii")
        return cls(
            value=encoded,
            topic=topic,
            partition=partition,
            offset=offset,
            kind=kind,
            message=message,
        )
