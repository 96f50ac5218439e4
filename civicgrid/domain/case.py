"""The case (一件一码): one immutable snapshot per version, and the effects that carry it."""

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from schemas.enums import AlertKind, CaseState, DeadLetterKind, Level, Severity, Supervision


class SlaStage(StrEnum):
    """How far the SLA timers of the current rung have fired; each fires once per rung."""

    NONE = "none"
    WARNED = "warned"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    case_code: str
    version: int
    state: CaseState
    level: Level
    category: str
    severity: Severity  # the most urgent of its reports
    grid_id: str
    departments: tuple[str, ...]  # its reports' union, lead first
    opened_at: datetime
    deadline: datetime
    limit: TimeLimit
    code: str | None
    lat: float | None
    lon: float | None
    event_ids: tuple[str, ...]  # every report joined, first the one that opened the case
    report_times: tuple[datetime, ...]  # occurred_at of each of event_ids
    reporter_hashes: tuple[str, ...]  # distinct, first-seen order
    duplicate_count: int
    return_count: int
    rework_count: int
    network: bool
    escalation_reasons: tuple[str, ...]  # its reports' network reasons, then later triggers
    sla_stage: SlaStage
    sla_started_at: datetime  # when the clock behind `deadline` started
    updated_at: datetime
    evaluation: str | None = None
    # each of event_ids' reporter hash, code and place: a repeat point counts the reports
    # of its point, each judged from its own place (a case's reports share a ~250 m cell)
    report_reporters: tuple[str, ...] = ()
    report_codes: tuple[str | None, ...] = ()
    report_lats: tuple[float | None, ...] = ()
    report_lons: tuple[float | None, ...] = ()
    repeat_alerted_at: datetime | None = None  # the report that last alerted its point
    # SPEC §10 console actions (docs/contract.md)
    extension_requested: str | None = None  # a pending request's length ("2 working days")
    extension_count: int = 0  # extensions granted, approved or applied at once (延期率)
    suspended_from: CaseState | None = None  # while SUSPENDED (挂账): the state to resume
    suspended_at: datetime | None = None
    supervision: Supervision | None = None  # the strongest 督办 card given
    supervision_count: int = 0

    @property
    def reporter_count(self) -> int:
        return len(self.reporter_hashes)

    @property
    def lead_department(self) -> str | None:
        return self.departments[0] if self.departments else None

    def next_version(self, updated_at: datetime, **changes: Any) -> "Case":
        return replace(self, version=self.version + 1, updated_at=updated_at, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: datetimes as RFC 3339, tuples as lists, the limit as amount and unit."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, TimeLimit):
                value = {"amount": value.amount, "unit": value.unit.value}
            elif isinstance(value, tuple):
                value = [v.isoformat() if isinstance(v, datetime) else v for v in value]
            elif isinstance(value, StrEnum):
                value = value.value
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Case":
        moment = datetime.fromisoformat
        limit = data["limit"]
        reports = len(data["event_ids"])
        return cls(
            case_id=data["case_id"],
            case_code=data["case_code"],
            version=int(data["version"]),
            state=CaseState(data["state"]),
            level=Level(data["level"]),
            category=data["category"],
            severity=Severity(data["severity"]),
            grid_id=data["grid_id"],
            departments=tuple(data["departments"]),
            opened_at=moment(data["opened_at"]),
            deadline=moment(data["deadline"]),
            limit=TimeLimit(float(limit["amount"]), LimitUnit(limit["unit"])),
            code=data["code"],
            lat=data["lat"],
            lon=data["lon"],
            event_ids=tuple(data["event_ids"]),
            report_times=tuple(moment(t) for t in data["report_times"]),
            reporter_hashes=tuple(data["reporter_hashes"]),
            duplicate_count=int(data["duplicate_count"]),
            return_count=int(data["return_count"]),
            rework_count=int(data["rework_count"]),
            network=bool(data["network"]),
            escalation_reasons=tuple(data["escalation_reasons"]),
            sla_stage=SlaStage(data["sla_stage"]),
            sla_started_at=moment(data["sla_started_at"]),
            updated_at=moment(data["updated_at"]),
            evaluation=data.get("evaluation"),
            # a case stored before reports were kept one by one counts each of its reports
            # as a different reporter at the case's own code and place
            report_reporters=tuple(data.get("report_reporters") or data["event_ids"]),
            report_codes=tuple(data.get("report_codes") or [data["code"]] * reports),
            report_lats=tuple(data.get("report_lats") or [data["lat"]] * reports),
            report_lons=tuple(data.get("report_lons") or [data["lon"]] * reports),
            repeat_alerted_at=_moment(data.get("repeat_alerted_at")),
            # cases stored before the console actions have none of them
            extension_requested=data.get("extension_requested"),
            extension_count=int(data.get("extension_count", 0)),
            suspended_from=_optional(CaseState, data.get("suspended_from")),
            suspended_at=_moment(data.get("suspended_at")),
            supervision=_optional(Supervision, data.get("supervision")),
            supervision_count=int(data.get("supervision_count", 0)),
        )


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


_E = TypeVar("_E", bound=StrEnum)


def _optional(kind: type[_E], value: str | None) -> _E | None:
    return None if value is None else kind(value)


# The effects of case-book operations, in the order the lead's stage must apply them.


@dataclass(frozen=True, slots=True)
class CaseChanged:
    """A new version: its snapshot for civic.cases.v1 and a history row."""

    case: Case
    reason: str
    event_id: str | None


@dataclass(frozen=True, slots=True)
class DispatchGrid:
    case: Case


@dataclass(frozen=True, slots=True)
class DispatchNetwork:
    case: Case
    reason: str
    lead_department: str
    co_departments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The task `case` (the version its owners were given) no longer theirs: a
    reclassification sent it to other owners (docs/contract.md)."""

    case: Case
    reason: str


@dataclass(frozen=True, slots=True)
class Corrected:
    """An operator's correction of a case's classification (`reclassify`): a labelled example
    for retraining. `report_event_id` is the case's first report, whose text the example is."""

    case: Case  # after the correction
    event_id: str  # the reclassify update's
    report_event_id: str
    from_category: str
    from_severity: Severity
    at: datetime


@dataclass(frozen=True, slots=True)
class SlaAlert:
    case: Case
    kind: AlertKind
    observed: float  # elapsed share of the limit
    expected: float  # the threshold crossed


@dataclass(frozen=True, slots=True)
class RepeatPoint:
    """SPEC §5/§7: the report `event_id` made its point one reported 3+ times in 7 days.

    `event_ids` are the point's reports in the window (across its cases, open or closed),
    `reporters` how many different people sent them."""

    case: Case  # the case the report opened or joined
    event_id: str
    event_ids: tuple[str, ...]
    reporters: int
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    event_id: str
    reason: str
    kind: DeadLetterKind  # UNKNOWN_CASE, REJECTED_TRANSITION or UNAUTHORISED


@dataclass(frozen=True, slots=True)
class TimerFailed:
    """The case's SLA timer could not be computed (stored times the calendar cannot span);
    the grid's other timers fire regardless."""

    case_id: str
    error: str


Effect = (
    CaseChanged
    | DispatchGrid
    | DispatchNetwork
    | Withdrawn
    | Corrected
    | SlaAlert
    | RepeatPoint
    | Rejected
    | TimerFailed
)
