"""The case (一件一码): one immutable snapshot per version, and the effects that carry it."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, overload

from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.schemas.enums import (
    AlertKind,
    CaseState,
    DeadLetterKind,
    Level,
    Severity,
    Supervision,
)


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
    reports: "CaseReports"  # every report joined, first the one that opened the case
    duplicate_count: int
    return_count: int
    rework_count: int
    network: bool
    escalation_reasons: tuple[str, ...]  # its reports' network reasons, then later triggers
    sla_stage: SlaStage
    sla_started_at: datetime  # when the clock behind `deadline` started
    updated_at: datetime
    evaluation: str | None = None
    repeat_alerted_at: datetime | None = None  # the report that last alerted its point
    # SPEC §10 console actions (docs/contract.md)
    extension_requested: str | None = None  # a pending request's length ("2 working days")
    extension_count: int = 0  # extensions granted, approved or applied at once (延期率)
    suspended_from: CaseState | None = None  # while SUSPENDED (挂账): the state to resume
    suspended_at: datetime | None = None
    supervision: Supervision | None = None  # the strongest 督办 card given
    supervision_count: int = 0

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(r.event_id for r in self.reports)

    @property
    def report_times(self) -> tuple[datetime, ...]:
        return tuple(r.at for r in self.reports)

    @property
    def reporter_hashes(self) -> tuple[str, ...]:
        """Distinct, in first-seen order."""
        return self.reports.reporters()

    @property
    def reporter_count(self) -> int:
        return len(self.reports.reporters())

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
            if isinstance(value, CaseReports):
                out.update(value.to_dict())
                continue
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
            reports=CaseReports.from_dict(data),
            duplicate_count=int(data["duplicate_count"]),
            return_count=int(data["return_count"]),
            rework_count=int(data["rework_count"]),
            network=bool(data["network"]),
            escalation_reasons=tuple(data["escalation_reasons"]),
            sla_stage=SlaStage(data["sla_stage"]),
            sla_started_at=moment(data["sla_started_at"]),
            updated_at=moment(data["updated_at"]),
            evaluation=data.get("evaluation"),
            repeat_alerted_at=_moment(data.get("repeat_alerted_at")),
            # cases stored before the console actions have none of them
            extension_requested=data.get("extension_requested"),
            extension_count=int(data.get("extension_count", 0)),
            suspended_from=_optional(CaseState, data.get("suspended_from")),
            suspended_at=_moment(data.get("suspended_at")),
            supervision=_optional(Supervision, data.get("supervision")),
            supervision_count=int(data.get("supervision_count", 0)),
        )


@dataclass(frozen=True, slots=True)
class CaseReport:
    """One report of a case, with what a repeat point judges it by: its reporter, and its
    own code and place (a case's reports share a ~250 m cell, not a point)."""

    event_id: str
    at: datetime  # occurred_at
    reporter: str  # keyed hash
    code: str | None
    lat: float | None
    lon: float | None


@dataclass(slots=True)
class _ReportLog:
    reports: list[CaseReport]
    first_seen: dict[str, int]  # reporter -> index of their first report, in first-seen order


class CaseReports(Sequence[CaseReport]):
    """A case's reports in the order they joined, shared by all the case's versions.

    Each version sees a prefix of one append-only log, so a joined report costs O(1): a
    tuple copied at every join made a case of 2,000 reports cost 2,000 growing copies
    (issue 16). Appending to a prefix that is not the whole log (an older version taking
    another path) copies the prefix first, so no version ever sees another's reports."""

    __slots__ = ("_log", "_size", "latest")

    def __init__(self, log: _ReportLog, size: int, latest: datetime) -> None:
        self._log = log
        self._size = size
        self.latest = latest  # the latest occurred_at among them

    @classmethod
    def of(cls, reports: Iterable[CaseReport]) -> "CaseReports":
        log = _ReportLog([], {})
        latest: datetime | None = None
        for report in reports:
            log.first_seen.setdefault(report.reporter, len(log.reports))
            log.reports.append(report)
            latest = report.at if latest is None else max(latest, report.at)
        if latest is None:
            raise ValueError("a case has at least the report that opened it")
        return cls(log, len(log.reports), latest)

    def appended(self, report: CaseReport) -> "CaseReports":
        log = self._log
        if len(log.reports) != self._size:
            return CaseReports.of([*self, report])
        log.first_seen.setdefault(report.reporter, self._size)
        log.reports.append(report)
        return CaseReports(log, self._size + 1, max(self.latest, report.at))

    def reporters(self) -> tuple[str, ...]:
        return tuple(r for r, first in self._log.first_seen.items() if first < self._size)

    def has_reporter(self, reporter: str) -> bool:
        return self._log.first_seen.get(reporter, self._size) < self._size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> CaseReport: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CaseReport]: ...
    def __getitem__(self, index: int | slice) -> CaseReport | Sequence[CaseReport]:
        if isinstance(index, slice):
            return self._log.reports[: self._size][index]
        if not -self._size <= index < self._size:
            raise IndexError(index)
        return self._log.reports[index % self._size]

    def __iter__(self) -> Iterator[CaseReport]:
        return iter(self._log.reports[: self._size])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CaseReports):
            return NotImplemented
        return self._size == other._size and list(self) == list(other)

    def __hash__(self) -> int:
        return hash((self._size, self._log.reports[self._size - 1]))

    def __repr__(self) -> str:
        return f"CaseReports({list(self)!r})"

    def to_dict(self) -> dict[str, list[Any]]:
        """The stored form: one list per attribute, as cases were stored before."""
        return {
            "event_ids": [r.event_id for r in self],
            "report_times": [r.at.isoformat() for r in self],
            "reporter_hashes": list(self.reporters()),
            "report_reporters": [r.reporter for r in self],
            "report_codes": [r.code for r in self],
            "report_lats": [r.lat for r in self],
            "report_lons": [r.lon for r in self],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CaseReports":
        event_ids = data["event_ids"]
        n = len(event_ids)
        # a case stored before reports were kept one by one counts each of its reports as
        # a different reporter at the case's own code and place
        return cls.of(
            CaseReport(event_id, datetime.fromisoformat(at), reporter, code, lat, lon)
            for event_id, at, reporter, code, lat, lon in zip(
                event_ids,
                data["report_times"],
                data.get("report_reporters") or event_ids,
                data.get("report_codes") or [data["code"]] * n,
                data.get("report_lats") or [data["lat"]] * n,
                data.get("report_lons") or [data["lon"]] * n,
                strict=True,
            )
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
