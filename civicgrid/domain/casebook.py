"""The case book: a set of grids' cases and the pure operations that open, join, move
and escalate them. Every operation returns its effects; the caller persists and publishes.

Each case is one grid's, so a book's results do not depend on which other grids were
loaded with it: duplicates join only an open case of the report's own grid, and a repeat
point counts the reports of the grid's cases, open or closed, updated in its 7 days.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from civicgrid.domain import escalation as rules
from civicgrid.domain.case import (
    Case,
    CaseChanged,
    DispatchGrid,
    DispatchNetwork,
    Effect,
    Rejected,
    RepeatPoint,
    SlaAlert,
    SlaStage,
)
from civicgrid.domain.geo import haversine_m
from civicgrid.domain.lifecycle import SLA_RUNNING, Step, SystemStep, TransitionRejected
from civicgrid.domain.lifecycle import transition as next_state
from civicgrid.domain.timelimit import TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from schemas.enums import (
    ActorKind,
    AlertKind,
    CaseAction,
    CaseState,
    DeadLetterKind,
    Level,
    Severity,
)


@dataclass(frozen=True, slots=True)
class _PointReport:
    at: datetime
    event_id: str
    reporter: str


@dataclass(frozen=True, slots=True)
class _Point:
    """A report's point as the grid's cases know it: its reports in the 7 days up to the
    report (the report included) and whether one of them alerted it already."""

    reports: tuple[_PointReport, ...]
    alerted: bool


@dataclass(frozen=True, slots=True)
class ReportFacts:
    event_id: str
    occurred_at: datetime
    grid_id: str
    code: str | None
    lat: float | None
    lon: float | None
    category: str
    severity: Severity
    departments: tuple[str, ...]  # lead first
    limit: TimeLimit
    reporter_hash: str
    network_reasons: tuple[str, ...] = ()  # from classification, e.g. ("P1",)
    resident: bool = True  # sent by a member of the public, not a grid worker on patrol

    def __post_init__(self) -> None:
        if not self.departments:
            raise ValueError("a report needs at least its owning department")


class CaseBook:
    def __init__(self, calendar: WorkingCalendar | None = None) -> None:
        self.calendar = calendar or WorkingCalendar()
        self._cases: dict[str, Case] = {}
        self._by_grid: dict[str, set[str]] = {}
        self._sequences: dict[str, int] = {}

    @classmethod
    def from_cases(
        cls,
        cases: Iterable[Case],
        sequences: Mapping[str, int],
        calendar: WorkingCalendar | None = None,
    ) -> "CaseBook":
        """Load stored cases (include closed ones that updates may reopen or evaluate)."""
        book = cls(calendar)
        book._sequences.update(sequences)
        for case in cases:
            book._put(case)
        return book

    def get(self, case_id: str) -> Case | None:
        return self._cases.get(case_id)

    @property
    def sequences(self) -> dict[str, int]:
        return dict(self._sequences)

    def _put(self, case: Case) -> None:
        self._cases[case.case_id] = case
        self._by_grid.setdefault(case.grid_id, set()).add(case.case_id)

    def _commit(self, out: list[Effect], case: Case, reason: str, event_id: str | None) -> Case:
        self._put(case)
        out.append(CaseChanged(case, reason, event_id))
        return case

    def _step(
        self,
        out: list[Effect],
        case: Case,
        step: Step,
        actor: ActorKind | None,
        at: datetime,
        reason: str,
        event_id: str | None,
        **changes: Any,
    ) -> Case:
        state = next_state(case.state, step, actor)
        return self._commit(out, case.next_version(at, state=state, **changes), reason, event_id)

    def _dispatch(self, out: list[Effect], case: Case, reason: str) -> None:
        if case.network:
            lead, *co = case.departments
            out.append(DispatchNetwork(case, reason, lead, tuple(co)))
        else:
            out.append(DispatchGrid(case))

    def _clock(self, at: datetime, limit: TimeLimit) -> dict[str, Any]:
        deadline = self.calendar.deadline(at, limit)
        return {"deadline": deadline, "sla_started_at": at, "sla_stage": SlaStage.NONE}

    def _escalate(
        self,
        out: list[Effect],
        case: Case,
        reason: str,
        at: datetime,
        event_id: str | None,
        sla_breach: bool = False,
    ) -> Case:
        target = rules.escalation_target(case.level, case.network, sla_breach)
        if target is None or case.state not in SLA_RUNNING:
            return case
        case = self._step(
            out,
            case,
            SystemStep.ESCALATE,
            None,
            at,
            f"escalated to {target.value}: {reason}",
            event_id,
            level=target,
            network=True,
            escalation_reasons=(*case.escalation_reasons, reason),
            **self._clock(at, case.limit),
        )
        self._dispatch(out, case, reason)
        return case

    def report(self, facts: ReportFacts, now: datetime) -> list[Effect]:
        """Open a case for an accepted report, or join it to the open case it repeats; alert
        its point when the report makes it a repeat point."""
        out: list[Effect] = []
        match = self._duplicate_of(facts)
        if match is not None and facts.event_id in match.event_ids:
            return out
        point = self._point(facts)
        alert = _repeat_alert_due(point, facts)
        alerted_at = facts.occurred_at if alert else None
        repeat = rules.repeat_reason([r.at for r in point.reports], facts.occurred_at)
        if match is None:
            case = self._open(out, facts, now, repeat, alerted_at)
        else:
            case = self._join(out, match, facts, now, repeat, alerted_at)
        if alert:
            out.append(
                RepeatPoint(
                    case,
                    facts.event_id,
                    tuple(r.event_id for r in point.reports),
                    len({r.reporter for r in point.reports}),
                    facts.occurred_at - rules.REPEAT_WINDOW,
                    facts.occurred_at,
                )
            )
        return out

    def _point(self, facts: ReportFacts) -> _Point:
        """SPEC §5 counts a point's reports, not a case's: a point whose earlier case was
        closed still counts that case's reports of the last 7 days. Each report is judged by
        its own code and place (a case's reports may lie up to 500 m apart)."""
        start = facts.occurred_at - rules.REPEAT_WINDOW
        reports = [_PointReport(facts.occurred_at, facts.event_id, facts.reporter_hash)]
        alerted = False
        for case_id in sorted(self._by_grid.get(facts.grid_id, ())):
            case = self._cases[case_id]
            if case.category != facts.category and facts.code not in case.report_codes:
                continue
            found = [
                _PointReport(at, event_id, reporter)
                for at, event_id, reporter, code, lat, lon in zip(
                    case.report_times,
                    case.event_ids,
                    case.report_reporters,
                    case.report_codes,
                    case.report_lats,
                    case.report_lons,
                    strict=True,
                )
                if start <= at <= facts.occurred_at
                and event_id != facts.event_id
                and _same_point(facts, case.category, code, lat, lon)
            ]
            reports += found
            if found and case.repeat_alerted_at is not None:
                alerted |= abs(facts.occurred_at - case.repeat_alerted_at) <= rules.REPEAT_WINDOW
        return _Point(tuple(sorted(reports, key=lambda r: (r.at, r.event_id))), alerted)

    def _duplicate_of(self, facts: ReportFacts) -> Case | None:
        ranked: list[tuple[int, float, datetime, str]] = []
        for case_id in self._by_grid.get(facts.grid_id, ()):
            case = self._cases[case_id]
            if not case.state.is_open or case.category != facts.category:
                continue
            if abs(facts.occurred_at - max(case.report_times)) > rules.REPEAT_WINDOW:
                continue
            if facts.code is not None and facts.code == case.code:
                ranked.append((0, 0.0, case.opened_at, case_id))
            elif None not in (facts.lat, facts.lon, case.lat, case.lon):
                distance = haversine_m(facts.lat, facts.lon, case.lat, case.lon)  # type: ignore[arg-type]
                if distance <= rules.JOIN_RADIUS_M:
                    ranked.append((1, distance, case.opened_at, case_id))
        return self._cases[min(ranked)[3]] if ranked else None

    def _open(
        self,
        out: list[Effect],
        facts: ReportFacts,
        now: datetime,
        repeat: str | None,
        alerted_at: datetime | None,
    ) -> Case:
        seq = self._sequences.get(facts.grid_id, 0) + 1
        self._sequences[facts.grid_id] = seq
        opened = now.astimezone(self.calendar.zone)
        reasons = rules.network_reasons(facts.severity, facts.departments, facts.network_reasons)
        if repeat is not None and repeat not in reasons:  # earlier reports: in closed cases
            reasons = (*reasons, repeat)
        case = Case(
            case_id=f"{facts.grid_id}~{seq}",
            case_code=f"{facts.grid_id}-{opened:%Y%m%d}-{seq:05d}",
            version=1,
            state=CaseState.REPORTED,
            level=rules.NETWORK_FLOOR if reasons else Level.GRID,
            category=facts.category,
            severity=facts.severity,
            grid_id=facts.grid_id,
            departments=facts.departments,
            opened_at=now,
            limit=facts.limit,
            code=facts.code,
            lat=facts.lat,
            lon=facts.lon,
            event_ids=(facts.event_id,),
            report_times=(facts.occurred_at,),
            reporter_hashes=(facts.reporter_hash,),
            report_reporters=(facts.reporter_hash,),
            report_codes=(facts.code,),
            report_lats=(facts.lat,),
            report_lons=(facts.lon,),
            repeat_alerted_at=alerted_at,
            duplicate_count=0,
            return_count=0,
            rework_count=0,
            network=bool(reasons),
            escalation_reasons=reasons,
            updated_at=now,
            **self._clock(now, facts.limit),
        )
        case = self._commit(out, case, "reported", facts.event_id)
        case = self._step(out, case, SystemStep.REGISTER, None, now, "registered", facts.event_id)
        reason = "; ".join(reasons) or "small matter: settled in the grid"
        case = self._step(
            out, case, SystemStep.DISPATCH, None, now, f"dispatched: {reason}", facts.event_id
        )
        self._dispatch(out, case, reason)
        return case

    def _join(
        self,
        out: list[Effect],
        case: Case,
        facts: ReportFacts,
        now: datetime,
        repeat: str | None,
        alerted_at: datetime | None,
    ) -> Case:
        reporters = case.reporter_hashes
        if facts.reporter_hash not in reporters:
            reporters = (*reporters, facts.reporter_hash)
        case = self._commit(
            out,
            case.next_version(
                now,
                event_ids=(*case.event_ids, facts.event_id),
                report_times=(*case.report_times, facts.occurred_at),
                reporter_hashes=reporters,
                report_reporters=(*case.report_reporters, facts.reporter_hash),
                report_codes=(*case.report_codes, facts.code),
                report_lats=(*case.report_lats, facts.lat),
                report_lons=(*case.report_lons, facts.lon),
                repeat_alerted_at=alerted_at or case.repeat_alerted_at,
                duplicate_count=case.duplicate_count + 1,
            ),
            "duplicate report joined",
            facts.event_id,
        )
        if repeat is not None:
            case = self._escalate(out, case, repeat, now, facts.event_id)
        return case

    def update(
        self,
        case_id: str,
        action: CaseAction,
        actor_kind: ActorKind,
        event_id: str,
        occurred_at: datetime,
        note: str | None = None,
    ) -> list[Effect]:
        """Apply a step from civic.case-updates.v1; a step the machine refuses is Rejected
        and leaves the case as it was."""
        case = self._cases.get(case_id)
        if case is None:
            return [Rejected(event_id, f"unknown case {case_id}", DeadLetterKind.UNKNOWN_CASE)]
        try:
            next_state(case.state, action, actor_kind)
        except TransitionRejected as rejected:
            reason = f"case {case_id}: {rejected.reason}"
            return [Rejected(event_id, reason, DeadLetterKind.REJECTED_TRANSITION)]
        out: list[Effect] = []

        reason = f"{action.value} by {actor_kind.value}" + (f": {note}" if note else "")
        changes: dict[str, Any] = {}
        if action is CaseAction.EXTEND:
            changes = {
                "deadline": self.calendar.deadline(case.deadline, _extension(note, case)),
                "sla_stage": SlaStage.NONE,
            }
        elif action is CaseAction.REOPEN:
            changes = self._clock(occurred_at, case.limit)
        elif action is CaseAction.EVALUATE:
            changes = {"evaluation": note}
        elif action is CaseAction.RETURN:
            changes = {"return_count": case.return_count + 1}
        elif action is CaseAction.CHECK_FAIL:
            changes = {"rework_count": case.rework_count + 1}
        case = self._step(out, case, action, actor_kind, occurred_at, reason, event_id, **changes)
        if case.state is CaseState.HANDLED:
            self._step(
                out, case, SystemStep.SEND_TO_CHECK, None, occurred_at, "sent to check", event_id
            )
        elif case.state is CaseState.RETURNED:
            if case.return_count >= rules.RETURNS_TO_ESCALATE:
                case = self._escalate(
                    out, case, f"returned {case.return_count} times", occurred_at, event_id
                )
            if case.state is CaseState.RETURNED:
                case = self._step(
                    out, case, SystemStep.DISPATCH, None, occurred_at, "re-dispatched", event_id
                )
                self._dispatch(out, case, "re-dispatched after a return")
        elif action is CaseAction.CHECK_FAIL and case.rework_count >= rules.REWORKS_TO_ESCALATE:
            self._escalate(out, case, f"reworked {case.rework_count} times", occurred_at, event_id)
        if action in (CaseAction.REOPEN, CaseAction.CHECK_FAIL) and (
            case.state is CaseState.DISPATCHED
        ):
            self._dispatch(out, case, reason)
        return out

    def cluster_alert(self, grid_ids: Iterable[str], category: str, now: datetime) -> list[Effect]:
        """Lift the category's open grid matters in the clustered grids onto the network."""
        grids = sorted(set(grid_ids))
        reason = f"cluster alert: {category} across grids {', '.join(grids)}"
        out: list[Effect] = []
        for grid_id in grids:
            for case_id in sorted(self._by_grid.get(grid_id, ())):
                case = self._cases[case_id]
                if case.category == category:
                    self._escalate(out, case, reason, now, None)
        return out

    def tick(self, now: datetime) -> list[Effect]:
        """Fire the SLA timers due at `now`: each warning and breach once per rung."""
        out: list[Effect] = []
        for case_id in sorted(self._cases):
            case = self._cases[case_id]
            if case.state not in SLA_RUNNING:
                continue
            fraction = self.calendar.elapsed_fraction(
                case.sla_started_at, case.deadline, now, case.limit
            )
            kind = rules.sla_alert(fraction, case.sla_stage)
            if kind is None:
                continue
            breach = kind is AlertKind.SLA_BREACH
            stage = SlaStage.BREACHED if breach else SlaStage.WARNED
            case = self._commit(out, case.next_version(now, sla_stage=stage), kind.value, None)
            threshold = rules.BREACH_AT if breach else rules.WARNING_AT
            out.append(SlaAlert(case, kind, fraction, threshold))
            if breach:
                overdue = f"SLA breach at the {case.level.value} rung"
                self._escalate(out, case, overdue, now, None, sla_breach=True)
        return out


def _same_point(
    facts: ReportFacts, category: str, code: str | None, lat: float | None, lon: float | None
) -> bool:
    """Whether a report of `category` at `code`, `lat`, `lon` is of the report's point: the
    same code, or the same category within 250 m (SPEC §5)."""
    if facts.code is not None and facts.code == code:
        return True
    if category != facts.category or None in (facts.lat, facts.lon, lat, lon):
        return False
    return haversine_m(facts.lat, facts.lon, lat, lon) <= rules.JOIN_RADIUS_M  # type: ignore[arg-type]


def _repeat_alert_due(point: _Point, facts: ReportFacts) -> bool:
    """Whether this report alerts its point: one alert per point per 7 days, on the resident
    report that brings a third different reporter to the point's week.

    One resident reporting three times is one complainant, and a grid worker's patrol record
    is work, not a report of the public: it counts among the reporters (it saw the problem
    too) but does not alert the point by itself.
    """
    if point.alerted or not facts.resident:
        return False
    earlier = {r.reporter for r in point.reports if r.event_id != facts.event_id}
    return facts.reporter_hash not in earlier and len(earlier) + 1 >= rules.REPEAT_THRESHOLD


def _extension(note: str | None, case: Case) -> TimeLimit:
    """An approved extension may name its length ("2 working days"); else one more limit."""
    if note:
        try:
            return TimeLimit.parse(note)
        except ValueError:
            pass
    return case.limit
