"""Quantitative assessment (量化考核, SPEC §6) of departments and grid workers.

Tallies are fed typed facts and keep, for every figure, the ids of the cases or
events on each side of the fraction, so any figure can be traced to its facts.

Scoring rules:

* A rate with a zero denominator has no value (``None``) and is excluded from
  the composite; the remaining weights are renormalised. A subject with no
  scorable rate at all has neither composite nor grade.
* "Bad" rates (rework, overdue-pending, extension, supervision, missed-report) enter the
  composite as ``1 - rate``.
* composite = 100 * sum(w * goodness) / sum(w) over the rates with a value.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from civicgrid.schemas.enums import CaseState

DEPARTMENT_WEIGHTS: Mapping[str, float] = {
    "closure_rate": 0.25,  # 结案率
    "on_time_closure_rate": 0.30,  # 按期结案率
    "rework_rate": 0.15,  # 返工率 (bad)
    "overdue_pending_rate": 0.15,  # 超期待处置率 (bad)
    "handling_rate": 0.10,  # 处置率
    "extension_rate": 0.05,  # 延期率 (bad)
    "supervision_rate": 0.05,  # 督办率 (bad): cases an operator had to supervise
}
WORKER_WEIGHTS: Mapping[str, float] = {
    "valid_report_rate": 0.20,
    "self_handled_rate": 0.10,
    "code_coverage": 0.15,
    "household_coverage": 0.15,
    "missed_report_rate": 0.20,  # bad
    "verify_on_time_rate": 0.10,
    "check_on_time_rate": 0.10,
}
_BAD = frozenset(
    {
        "rework_rate",
        "overdue_pending_rate",
        "extension_rate",
        "supervision_rate",
        "missed_report_rate",
    }
)
# Not the department's work: cancelled or merged cases, and wrong dispatches it sent back.
_NOT_COUNTED = frozenset({CaseState.CANCELLED, CaseState.DUPLICATE, CaseState.RETURNED})
_HANDLED = frozenset({CaseState.HANDLED, CaseState.CHECKING, CaseState.CLOSED})
_GRADES = ((90.0, "A"), (75.0, "B"), (60.0, "C"), (40.0, "D"))


def grade(score: float) -> str:
    """A >= 90, B >= 75, C >= 60, D >= 40, else E."""
    return next((letter for floor, letter in _GRADES if score >= floor), "E")


@dataclass(frozen=True, slots=True)
class Rate:
    """A fraction with the ids behind each side.

    ``population`` replaces ``len(denominator)`` when the denominator is known
    only by its size (the codes or households of a grid); ``denominator`` is
    then empty.
    """

    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    population: int | None = None

    @property
    def value(self) -> float | None:
        size = len(self.denominator) if self.population is None else self.population
        if size <= 0:
            return None
        # Capped because registry counts may lag behind codes already scanned.
        return min(1.0, len(self.numerator) / size)


def _rate(numerator: list[str], denominator: list[str]) -> Rate:
    return Rate(tuple(numerator), tuple(denominator))


def _composite(rates: Mapping[str, Rate], weights: Mapping[str, float]) -> float | None:
    unknown = set(weights) - set(rates)
    if unknown:
        raise ValueError(f"unknown indicator weights: {sorted(unknown)}")
    total = weighted = 0.0
    for name, weight in weights.items():
        value = rates[name].value
        if value is not None and weight > 0:
            total += weight
            weighted += weight * ((1.0 - value) if name in _BAD else value)
    return round(100.0 * weighted / total, 2) if total else None


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """Where one case assigned to ``department`` stands at the tally's ``as_of``.

    ``deadline`` is the effective one (after any approved extension or escalation);
    ``first_deadline`` the one at the case's original rung, before any escalation (approved
    extensions count): on-time closure is judged against it, so a case that breached and was
    escalated with a fresh deadline stays late. None: the case was never escalated.
    ``reworked`` means a check sent it back at least once, ``extended`` that its deadline
    was extended (at once or by an approved request), ``supervised`` that an operator gave it
    a 督办 card.
    """

    case_id: str
    department: str
    state: CaseState
    deadline: datetime
    closed_at: datetime | None = None
    reworked: bool = False
    extended: bool = False
    first_deadline: datetime | None = None
    supervised: bool = False


@dataclass(slots=True)
class DepartmentTally:
    """Cases of one department as of an instant.

    Due to handle (应处置) = every counted case. Due to close (应结案) = counted
    cases whose deadline has passed by ``as_of`` or which are closed already (an
    early closure counts for the department). Closed on time (按期结案) = closed by
    the first deadline. Overdue pending (超期待处置) = not yet handled and past the
    deadline.
    """

    department: str
    as_of: datetime
    to_handle: list[str] = field(default_factory=list)
    to_close: list[str] = field(default_factory=list)
    handled: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    closed_on_time: list[str] = field(default_factory=list)
    reworked: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    supervised: list[str] = field(default_factory=list)
    overdue_pending: list[str] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)

    def add(self, case: CaseOutcome) -> None:
        if case.department != self.department:
            raise ValueError(f"case {case.case_id} belongs to {case.department}")
        cid = case.case_id
        if case.state in _NOT_COUNTED:
            self.not_counted.append(cid)
            return
        closed = case.state is CaseState.CLOSED and case.closed_at is not None
        self.to_handle.append(cid)
        if case.extended:
            self.extended.append(cid)
        if case.supervised:
            self.supervised.append(cid)
        if case.state in _HANDLED:
            self.handled.append(cid)
        elif case.deadline < self.as_of:
            self.overdue_pending.append(cid)
        if not (closed or case.deadline <= self.as_of):
            return
        self.to_close.append(cid)
        if case.reworked:
            self.reworked.append(cid)
        if closed:
            self.closed.append(cid)
            due = case.deadline if case.first_deadline is None else case.first_deadline
            if case.closed_at is not None and case.closed_at <= due:
                self.closed_on_time.append(cid)


@dataclass(frozen=True, slots=True)
class DepartmentScore:
    department: str
    rates: Mapping[str, Rate]
    composite: float | None
    grade: str | None


def department_scores(
    tally: DepartmentTally, weights: Mapping[str, float] = DEPARTMENT_WEIGHTS
) -> DepartmentScore:
    t = tally
    rates = {
        "closure_rate": _rate(t.closed, t.to_close),
        "on_time_closure_rate": _rate(t.closed_on_time, t.to_close),
        "rework_rate": _rate(t.reworked, t.to_close),
        "overdue_pending_rate": _rate(t.overdue_pending, t.to_handle),
        "handling_rate": _rate(t.handled, t.to_handle),
        "extension_rate": _rate(t.extended, t.to_handle),
        "supervision_rate": _rate(t.supervised, t.to_handle),
    }
    composite = _composite(rates, weights)
    return DepartmentScore(
        t.department, rates, composite, None if composite is None else grade(composite)
    )


@dataclass(slots=True)
class WorkerTally:
    """The work of one grid worker in their grid; ids are event ids.

    Only scans and visits inside the worker's grid should be fed: coverage is
    measured against the grid's own codes and households.
    """

    worker_id: str
    grid_id: str
    reports: list[str] = field(default_factory=list)
    valid_reports: list[str] = field(default_factory=list)
    self_handled: list[str] = field(default_factory=list)
    first_scan_of_code: dict[str, str] = field(default_factory=dict)
    first_visit_of_household: dict[str, str] = field(default_factory=dict)
    public_reports: list[str] = field(default_factory=list)
    missed_reports: list[str] = field(default_factory=list)
    verifies: list[str] = field(default_factory=list)
    verifies_on_time: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    checks_on_time: list[str] = field(default_factory=list)

    def report(self, event_id: str, valid: bool, self_handled: bool = False) -> None:
        """A report the worker uploaded; ``valid``: it became a real case."""
        self.reports.append(event_id)
        if valid:
            self.valid_reports.append(event_id)
            if self_handled:
                self.self_handled.append(event_id)

    def scan(self, event_id: str, code: str) -> None:
        self.first_scan_of_code.setdefault(code, event_id)

    def visit(self, event_id: str, household_id: str) -> None:
        self.first_visit_of_household.setdefault(household_id, event_id)

    def public_report(self, event_id: str, preceded: bool) -> None:
        """A resident's report in the grid; ``preceded``: one of the grid's workers reported
        the matter first."""
        self.public_reports.append(event_id)
        if not preceded:
            self.missed_reports.append(event_id)

    def verify(self, event_id: str, on_time: bool) -> None:
        self.verifies.append(event_id)
        if on_time:
            self.verifies_on_time.append(event_id)

    def check(self, event_id: str, on_time: bool) -> None:
        self.checks.append(event_id)
        if on_time:
            self.checks_on_time.append(event_id)


@dataclass(frozen=True, slots=True)
class WorkerScore:
    worker_id: str
    grid_id: str
    reports_uploaded: tuple[str, ...]
    rates: Mapping[str, Rate]
    composite: float | None
    grade: str | None


def worker_share(size: int, workers: int) -> int:
    """A worker's part of a grid's codes or households. A grid with several workers is their
    joint charge: measured against the whole grid, two workers who split it evenly and walk
    all of it would each show half coverage."""
    return -(-size // max(1, workers))


def worker_scores(
    tally: WorkerTally,
    codes: int,
    households: int,
    weights: Mapping[str, float] = WORKER_WEIGHTS,
) -> WorkerScore:
    """Self-handled rate is over valid reports; coverage over the codes / households in the
    worker's charge (`worker_share` of the grid's)."""
    t = tally
    rates = {
        "valid_report_rate": _rate(t.valid_reports, t.reports),
        "self_handled_rate": _rate(t.self_handled, t.valid_reports),
        "code_coverage": Rate(tuple(t.first_scan_of_code.values()), (), codes),
        "household_coverage": Rate(tuple(t.first_visit_of_household.values()), (), households),
        "missed_report_rate": _rate(t.missed_reports, t.public_reports),
        "verify_on_time_rate": _rate(t.verifies_on_time, t.verifies),
        "check_on_time_rate": _rate(t.checks_on_time, t.checks),
    }
    composite = _composite(rates, weights)
    return WorkerScore(
        t.worker_id,
        t.grid_id,
        tuple(t.reports),
        rates,
        composite,
        None if composite is None else grade(composite),
    )
