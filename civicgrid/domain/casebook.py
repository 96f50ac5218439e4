"""The case book: a set of grids' cases and the pure operations that open, join, move
and escalate them. Every operation returns its effects; the caller persists and publishes.

Each case is one grid's, so a book's results do not depend on which other grids were
loaded with it: duplicates join only an open case of the report's own grid, and a repeat
point counts the reports of the grid's cases, open or closed, updated in its 7 days.

Nor do a case's contents depend on the order its grid's reports arrive in, which fetch
timing and restarts change (docs/reliability.md, "Case contents"): a report joins by a key
of its own (`join_key`: category and fixed ~250 m cell), and a case's severity, departments,
network reasons and repeat-point escalation are the most urgent, the union, and the same
rule over all the reports seen, whichever came first.
"""

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from civicgrid.domain import escalation as rules
from civicgrid.domain.case import (
    Case,
    CaseChanged,
    CaseReport,
    CaseReports,
    Corrected,
    DispatchGrid,
    DispatchNetwork,
    Effect,
    Rejected,
    RepeatPoint,
    SlaAlert,
    SlaStage,
    TimerFailed,
    Withdrawn,
)
from civicgrid.domain.geo import M_PER_DEG, Cell, cell_of, cells_around, haversine_m
from civicgrid.domain.lifecycle import SLA_RUNNING, Step, SystemStep, TransitionRejected
from civicgrid.domain.lifecycle import transition as next_state
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.enums import (
    ActorKind,
    AlertKind,
    CaseAction,
    CaseState,
    DeadLetterKind,
    Level,
    Satisfaction,
    Severity,
    Supervision,
)


@dataclass(frozen=True, slots=True)
class _Report:
    """One report of a case, as the book indexes it for joins and repeat points."""

    case_id: str
    category: str
    at: datetime
    event_id: str
    reporter: str
    code: str | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class _Point:
    """A point's reports in the 7 days up to `end`, the new report included."""

    reports: tuple[_Report, ...]
    end: datetime


JOINED = "duplicate report joined"  # the history reason of a version that joined a report
JoinKey = tuple[str, Cell | str]  # category, and the report's cell (or its code, unplaced)
SiteKey = tuple[str, str | None, float | None, float | None]  # category, code, lat, lon


def _count(times: list[datetime], start: datetime, end: datetime) -> int:
    """How many of the sorted `times` lie in [start, end]."""
    return bisect_right(times, end) - bisect_left(times, start)


def _latest(times: list[datetime], start: datetime, end: datetime) -> datetime | None:
    """The latest of the sorted `times` in [start, end], if any."""
    i = bisect_right(times, end)
    return times[i - 1] if i and times[i - 1] >= start else None


@dataclass(eq=False)
class _Site:
    """The indexed reports of one category, code and place. Reports at one site have one
    point (SPEC §5: the same code, or the same category within 250 m), so a hot point, a
    code that thousands report, is one site whatever its number of reports, and a week of
    its point is a few binary searches in the sorted times of the sites it sees."""

    category: str
    code: str | None
    lat: float | None
    lon: float | None
    sees: list["_Site"] = field(default_factory=list)  # the sites of its point, itself too
    times: list[datetime] = field(default_factory=list)  # its reports' times, sorted
    keys: list[tuple[datetime, str]] = field(default_factory=list)  # (time, event id), sorted
    reports: list[_Report] = field(default_factory=list)  # in the order of `keys`
    by_reporter: dict[str, list[datetime]] = field(default_factory=dict)  # sorted times
    by_case: dict[str, list[datetime]] = field(default_factory=dict)  # sorted times

    def add(self, report: _Report) -> None:
        at = bisect_right(self.keys, (report.at, report.event_id))
        self.keys.insert(at, (report.at, report.event_id))
        self.times.insert(at, report.at)
        self.reports.insert(at, report)
        insort(self.by_reporter.setdefault(report.reporter, []), report.at)
        insort(self.by_case.setdefault(report.case_id, []), report.at)

    def point_of(self, other: "_Site") -> bool:
        """Whether `other`'s reports are in the point of this site's (judged from here, as
        a report judges its point from its own place)."""
        if self.code and other.code == self.code:
            return True
        if self.lat is None or self.lon is None or other.lat is None or other.lon is None:
            return False
        if other.category != self.category:
            return False
        cell = cell_of(other.lat, other.lon, rules.JOIN_CELL_M)
        if cell not in set(cells_around(self.lat, self.lon, rules.JOIN_CELL_M)):
            return False
        radius = rules.POINT_RADIUS_M
        # a box a little wider than the circle rejects most sites before the haversine
        lat_span = radius / M_PER_DEG
        lon_span = 1.01 * lat_span / math.cos(math.radians(min(89.0, abs(self.lat) + lat_span)))
        return (
            abs(other.lat - self.lat) <= lat_span
            and abs(other.lon - self.lon) <= lon_span
            and haversine_m(self.lat, self.lon, other.lat, other.lon) <= radius
        )


@dataclass(frozen=True, slots=True)
class _Week:
    """A point's indexed reports in the 7 days up to `end`: those of `sites` in the window."""

    sites: list[_Site]
    end: datetime

    @property
    def start(self) -> datetime:
        return self.end - rules.REPEAT_WINDOW

    def count(self) -> int:
        return sum(_count(site.times, self.start, self.end) for site in self.sites)

    def reports(self) -> list[_Report]:
        return [
            site.reports[i]
            for site in self.sites
            for i in range(bisect_left(site.times, self.start), bisect_right(site.times, self.end))
        ]

    def cases(self) -> set[str]:
        return {
            case_id
            for site in self.sites
            for case_id, times in site.by_case.items()
            if _count(times, self.start, self.end)
        }

    def latest_by(self, reporter: str) -> datetime | None:
        """The latest report of `reporter` in the week, if any."""
        found = [
            _latest(site.by_reporter[reporter], self.start, self.end)
            for site in self.sites
            if reporter in site.by_reporter
        ]
        return max((at for at in found if at is not None), default=None)

    def several_reporters(self) -> bool:
        """Whether the week's reports come from two people or more."""
        total = 0
        anyone: str | None = None
        for site in self.sites:
            first, last = bisect_left(site.times, self.start), bisect_right(site.times, self.end)
            total += last - first
            if anyone is None and last > first:
                anyone = site.reports[first].reporter
        if anyone is None:
            return False
        theirs = sum(
            _count(site.by_reporter.get(anyone, []), self.start, self.end) for site in self.sites
        )
        return total > theirs

    def alerted_until(self, cases: Mapping[str, Case]) -> datetime | None:
        """If a case holding one of the week's reports alerted its point within 7 days of
        `end`, the latest end up to which that stays so (for weeks ending later, with this
        site's `sites`); else None."""
        until: datetime | None = None
        for site in self.sites:
            for case_id, times in site.by_case.items():
                alerted_at = cases[case_id].repeat_alerted_at
                if alerted_at is None or abs(self.end - alerted_at) > rules.REPEAT_WINDOW:
                    continue
                seen = _latest(times, self.start, self.end)
                if seen is not None:
                    bound = min(alerted_at, seen) + rules.REPEAT_WINDOW
                    until = bound if until is None else max(until, bound)
        return until


@dataclass
class _GridIndex:
    """A grid's cases by join key and its reports by site, so that a report costs a few
    look-ups and binary searches, not a scan of the grid's cases or of its point's reports."""

    cases_by_key: dict[JoinKey, set[str]] = field(default_factory=dict)
    sites: dict[SiteKey, _Site] = field(default_factory=dict)
    sites_by_code: dict[str, list[_Site]] = field(default_factory=dict)
    sites_by_cell: dict[tuple[str, Cell], list[_Site]] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)

    def site(self, category: str, code: str | None, lat: float | None, lon: float | None) -> _Site:
        """The site of a report at `code`, `lat`, `lon` of `category`; a new one learns which
        sites it sees and is seen by (a site sees itself when it has a code or a place)."""
        key = (category, code, lat, lon)
        found = self.sites.get(key)
        if found is not None:
            return found
        new = self.sites[key] = _Site(category, code, lat, lon)
        near: dict[int, _Site] = {}
        if code:
            near.update((id(s), s) for s in self.sites_by_code.get(code, ()))
        if lat is not None and lon is not None:
            for cell in cells_around(lat, lon, rules.JOIN_CELL_M):
                near.update((id(s), s) for s in self.sites_by_cell.get((category, cell), ()))
        for other in near.values():
            if new.point_of(other):
                new.sees.append(other)
            if other.point_of(new):
                other.sees.append(new)
        if new.point_of(new):
            new.sees.append(new)
        if code is not None:
            self.sites_by_code.setdefault(code, []).append(new)
        if lat is not None and lon is not None:
            cell = cell_of(lat, lon, rules.JOIN_CELL_M)
            self.sites_by_cell.setdefault((category, cell), []).append(new)
        return new

    def add(self, report: _Report) -> None:
        key = join_key(report.category, report.code, report.lat, report.lon)
        if key is not None:
            self.cases_by_key.setdefault(key, set()).add(report.case_id)
        self.site(report.category, report.code, report.lat, report.lon).add(report)
        self.event_ids.add(report.event_id)


def join_key(
    category: str, code: str | None, lat: float | None, lon: float | None
) -> JoinKey | None:
    """The key a report joins by: its category and its fixed ~250 m cell; a report without a
    place, its code (a code stands at one place); neither, None: it joins nothing.

    A key is a function of the report alone, so which reports share a case does not depend
    on their order, as it would if a report joined a case within 250 m of the case's first
    report (A, B, C 200 m apart in a line: A first groups {A, B}, {C}; B first {A, B, C})."""
    if lat is not None and lon is not None:
        return category, cell_of(lat, lon, rules.JOIN_CELL_M)
    if code is not None:
        return category, code
    return None


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
    needs_verification: bool = False  # marked 核实: the case waits in VERIFYING

    def __post_init__(self) -> None:
        if not self.departments:
            raise ValueError("a report needs at least its owning department")


DEFAULT_REOPEN_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Reclassification:
    """What a `reclassify` gives the case: the corrected category with what the taxonomy says
    of it, and the severity the operator gave (None: the category's own)."""

    category: str
    category_severity: Severity
    departments: tuple[str, ...]  # lead first
    limit: TimeLimit
    severity: Severity | None = None


class CaseBook:
    def __init__(
        self,
        calendar: WorkingCalendar | None = None,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    ) -> None:
        self.calendar = calendar or WorkingCalendar()
        self.reopen_window = reopen_window  # 不满意 this soon after closing reopens; 0: never
        self._cases: dict[str, Case] = {}
        self._by_grid: dict[str, set[str]] = {}
        self._sequences: dict[str, int] = {}
        self._indexes: dict[str, _GridIndex] = {}  # built at a grid's first report

    @classmethod
    def from_cases(
        cls,
        cases: Iterable[Case],
        sequences: Mapping[str, int],
        calendar: WorkingCalendar | None = None,
    ) -> "CaseBook":
        """Load stored cases (include closed ones that updates may reopen or evaluate)."""
        book = cls(calendar)
        book.load(cases, sequences)
        return book

    def load(self, cases: Iterable[Case], sequences: Mapping[str, int]) -> None:
        """Add stored cases and grid counters to a book kept between batches. A grid's
        report index is rebuilt at its next report, so it covers the added cases."""
        for grid_id, seq in sequences.items():
            self._sequences[grid_id] = max(self._sequences.get(grid_id, 0), seq)
        for case in cases:
            self._put(case)
            self._indexes.pop(case.grid_id, None)

    def forget_settled(self, updated_before: datetime) -> int:
        """Drop closed cases last changed before `updated_before` (no report of theirs can
        count for a point any more); return how many. A kept book stays bounded this way."""
        settled = [
            case
            for case in self._cases.values()
            if not case.state.is_open and case.updated_at < updated_before
        ]
        for case in settled:
            del self._cases[case.case_id]
            self._by_grid[case.grid_id].discard(case.case_id)
            self._indexes.pop(case.grid_id, None)
        return len(settled)

    def __len__(self) -> int:
        return len(self._cases)

    def get(self, case_id: str) -> Case | None:
        return self._cases.get(case_id)

    @property
    def sequences(self) -> dict[str, int]:
        return dict(self._sequences)

    def _put(self, case: Case) -> None:
        self._cases[case.case_id] = case
        self._by_grid.setdefault(case.grid_id, set()).add(case.case_id)

    def _index(self, grid_id: str) -> _GridIndex:
        index = self._indexes.get(grid_id)
        if index is None:
            index = self._indexes[grid_id] = _GridIndex()
            for case_id in sorted(self._by_grid.get(grid_id, ())):
                case = self._cases[case_id]
                for r in case.reports:
                    index.add(
                        _Report(
                            case_id,
                            case.category,
                            r.at,
                            r.event_id,
                            r.reporter,
                            r.code,
                            r.lat,
                            r.lon,
                        )
                    )
        return index

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
        # `changes` may name the state itself: a resumed case returns where it was suspended
        state = next_state(case.state, step, actor)
        changed = case.next_version(at, **({"state": state} | changes))
        return self._commit(out, changed, reason, event_id)

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
        """Escalate for what happened to the case: an SLA breach, returns, reworks, a
        cluster alert. A network matter is not lifted again, except by a breach."""
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

    def _add_reasons(
        self,
        out: list[Effect],
        case: Case,
        reasons: Iterable[str],
        at: datetime,
        event_id: str,
        changed: str | None = None,
    ) -> Case:
        """Make the case a network matter for `reasons` too, each recorded once: the case's
        reasons are the union of its reports' (and its repeat point's), and its level and
        state follow from them, whichever report brought which reason first.

        A grid matter nobody has accepted yet is lifted to the street rung and dispatched
        again there, still DISPATCHED, just as a case opened as a network matter is; one
        already taken is ESCALATED, as for any other trigger. A network matter records the
        reason and its departments get the task again, as they do when a joined report
        raised the severity or brought co-handlers (`changed`)."""
        new = tuple(r for r in dict.fromkeys(reasons) if r not in case.escalation_reasons)
        if case.state not in SLA_RUNNING or not (new or changed):
            return case
        why = "; ".join(new) or changed or ""
        recorded = (*case.escalation_reasons, *new)
        if not new or case.network:
            if new:
                case = self._commit(
                    out,
                    case.next_version(at, escalation_reasons=recorded),
                    f"also a network matter: {why}",
                    event_id,
                )
            self._dispatch(out, case, why)
            return case
        target = rules.escalation_target(case.level, False, False)
        assert target is not None  # a grid matter always lifts onto the network
        lift: dict[str, Any] = {
            "level": target,
            "network": True,
            "escalation_reasons": recorded,
            **self._clock(at, case.limit),
        }
        reason = f"escalated to {target.value}: {why}"
        if case.state is CaseState.DISPATCHED:
            case = self._commit(out, case.next_version(at, **lift), reason, event_id)
        else:
            case = self._step(out, case, SystemStep.ESCALATE, None, at, reason, event_id, **lift)
        self._dispatch(out, case, why)
        return case

    def report(self, facts: ReportFacts, now: datetime) -> list[Effect]:
        """Open a case for an accepted report, or join it to the open case of its join key;
        lift every open case holding a report of a repeat point; alert the point once.

        For a set of reports (no case updates, no timers, all within 7 days of each other)
        the cases' contents do not depend on the order the reports arrive in: which reports
        share a case (`join_key`), the case's severity (the most urgent report's), its
        departments and network reasons (the union of its reports'), and its repeat-point
        escalation (every case holding a report of a point reported 3+ times in 7 days,
        judged over all the point's reports seen, earlier or later arrivals alike).
        docs/reliability.md, "Case contents", says what order still decides."""
        index = self._index(facts.grid_id)
        if facts.event_id in index.event_ids:
            return []  # a redelivered report changes nothing
        out: list[Effect] = []
        mine = _Report(
            "",
            facts.category,
            facts.occurred_at,
            facts.event_id,
            facts.reporter_hash,
            facts.code,
            facts.lat,
            facts.lon,
        )
        site = index.site(mine.category, mine.code, mine.lat, mine.lon)
        own = _Week(site.sees, mine.at)
        own_repeats = own.count() + 1 >= rules.REPEAT_THRESHOLD
        # The weeks the report falls in: its own, and each later report's of its point (a
        # report arriving late completes a later report's week as much as an early one its
        # own). A point is judged from each report's own place: a case's reports may lie up
        # to 354 m apart (a cell's diagonal), so the case's place would not do.
        later_repeats, reaching = self._later_weeks(site, mine.at)
        # every case of a repeat point is lifted once, when the point's week reaches the
        # threshold; the report's own week is new, so all of its cases
        lift = set().union(*(week.cases() for week in reaching))
        if own_repeats:
            lift |= own.cases()
        alerting = self._alerting(facts, mine, site, own if own_repeats else None)
        alerted_at = None if alerting is None else facts.occurred_at
        reasons = rules.network_reasons(facts.severity, facts.departments, facts.network_reasons)
        if own_repeats or later_repeats:
            reasons = tuple(dict.fromkeys((*reasons, rules.REPEAT_REASON)))
        match = self._duplicate_of(facts, index)
        if match is None:
            case = self._open(out, facts, now, reasons, alerted_at)
        else:
            case = self._join(out, match, facts, now, reasons, alerted_at)
        index.add(replace(mine, case_id=case.case_id))
        for case_id in sorted(lift - {case.case_id}):
            self._add_reasons(
                out, self._cases[case_id], (rules.REPEAT_REASON,), now, facts.event_id
            )
        if alerting is not None:
            out.append(
                RepeatPoint(
                    self._cases[case.case_id],
                    facts.event_id,
                    tuple(r.event_id for r in alerting.reports),
                    len({r.reporter for r in alerting.reports}),
                    alerting.end - rules.REPEAT_WINDOW,
                    alerting.end,
                )
            )
        return out

    @staticmethod
    def _later_weeks(site: _Site, at: datetime) -> tuple[bool, list[_Week]]:
        """Of the weeks of the point's reports in the 7 days after `at` (a report at `at`
        falls in each): whether one is a repeat point with the report, and those it brings
        to the threshold.

        A site's k-th report after `at` already has k reports in its week (all within 7
        days), so only a site's first two can be brought to the threshold: a hot point's
        thousand later reports are not looked at one by one."""
        repeats = False
        reaching: list[_Week] = []
        for other in site.sees:
            first = bisect_left(other.times, at)
            last = bisect_right(other.times, at + rules.REPEAT_WINDOW)
            i = first
            while i < last:
                end = other.times[i]
                following = bisect_right(other.times, end)
                if following - first >= rules.REPEAT_THRESHOLD:
                    repeats = True
                    break
                week = _Week(other.sees, end)
                count = week.count() + 1
                if count >= rules.REPEAT_THRESHOLD:
                    repeats = True
                if count == rules.REPEAT_THRESHOLD:
                    reaching.append(week)
                i = following
        return repeats, reaching

    def _alerting(
        self, facts: ReportFacts, mine: _Report, site: _Site, own: _Week | None
    ) -> _Point | None:
        """The repeat point this report alerts, if any: one alert per point per 7 days, on
        the resident report that brings a third different reporter to the point's week. Its
        own week is judged first, then the later reports' weeks in time order.

        One resident reporting three times is one complainant, and a grid worker's patrol
        record is work, not a report of the public: it counts among the reporters (it saw the
        problem too) but does not alert the point by itself.
        """
        if not facts.resident:
            return None
        if own is not None and self._alerts(own, facts.reporter_hash) is None:
            return _Point(tuple(sorted((*own.reports(), mine), key=_by_time)), own.end)
        first: tuple[tuple[datetime, str], _Week] | None = None
        for other in site.sees:
            found = self._first_alerting(other, mine.at, facts.reporter_hash)
            if found is not None and (first is None or found[0] < first[0]):
                first = found
        if first is None:
            return None
        week = first[1]
        return _Point(tuple(sorted((*week.reports(), mine), key=_by_time)), week.end)

    def _first_alerting(
        self, site: _Site, at: datetime, reporter: str
    ) -> tuple[tuple[datetime, str], _Week] | None:
        """The first of the site's reports in the 7 days after `at` whose week a report of
        `reporter` at `at` makes an alerting repeat point, with that week.

        Reports at one time share their week; and a week that fails because `reporter` is
        in it, or because a case of it alerted, fails for every later end while that report
        stays in the window: those ends are skipped, so a hot point costs a few weeks."""
        i = bisect_left(site.times, at)
        last = bisect_right(site.times, at + rules.REPEAT_WINDOW)
        while i < last:
            end = site.times[i]
            following = bisect_right(site.times, end)
            week = _Week(site.sees, end)
            until = self._alerts(week, reporter)
            if until is None:
                return site.keys[i], week
            i = max(following, bisect_right(site.times, until))
        return None

    def _alerts(self, week: _Week, reporter: str) -> datetime | None:
        """None if a report of `reporter` makes the week an alerting repeat point; else the
        latest end up to which the reason it does not holds (the week's own end at least)."""
        if week.count() + 1 < rules.REPEAT_THRESHOLD:
            return week.end
        seen = week.latest_by(reporter)
        if seen is not None:
            return max(week.end, seen + rules.REPEAT_WINDOW)
        if not week.several_reporters():
            return week.end
        until = week.alerted_until(self._cases)
        return None if until is None else max(week.end, until)

    def _duplicate_of(self, facts: ReportFacts, index: _GridIndex) -> Case | None:
        """The open case of the report's join key whose reports are within its 7 days; of
        several (cases stored under an older rule), the first opened."""
        key = join_key(facts.category, facts.code, facts.lat, facts.lon)
        if key is None:
            return None
        ranked: list[tuple[datetime, str]] = []
        for case_id in index.cases_by_key.get(key, ()):
            case = self._cases[case_id]
            if not case.state.is_open or case.category != facts.category:
                continue
            if abs(facts.occurred_at - case.reports.latest) > rules.REPEAT_WINDOW:
                continue
            ranked.append((case.opened_at, case_id))
        return self._cases[min(ranked)[1]] if ranked else None

    def _open(
        self,
        out: list[Effect],
        facts: ReportFacts,
        now: datetime,
        reasons: tuple[str, ...],
        alerted_at: datetime | None,
    ) -> Case:
        seq = self._sequences.get(facts.grid_id, 0) + 1
        self._sequences[facts.grid_id] = seq
        opened = now.astimezone(self.calendar.zone)
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
            reports=CaseReports.of([_case_report(facts)]),
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
        if facts.needs_verification:
            hold = SystemStep.HOLD_FOR_VERIFICATION
            return self._step(out, case, hold, None, now, "awaiting verification", facts.event_id)
        case = self._step(out, case, SystemStep.REGISTER, None, now, "registered", facts.event_id)
        return self._first_dispatch(out, case, now, facts.event_id)

    def _first_dispatch(self, out: list[Effect], case: Case, now: datetime, event_id: str) -> Case:
        reason = "; ".join(case.escalation_reasons) or "small matter: settled in the grid"
        case = self._step(
            out, case, SystemStep.DISPATCH, None, now, f"dispatched: {reason}", event_id
        )
        self._dispatch(out, case, reason)
        return case

    def _join(
        self,
        out: list[Effect],
        case: Case,
        facts: ReportFacts,
        now: datetime,
        reasons: tuple[str, ...],
        alerted_at: datetime | None,
    ) -> Case:
        severity = rules.most_urgent(case.severity, facts.severity)
        raised = severity is not case.severity
        added = tuple(d for d in facts.departments if d not in case.departments)
        case = self._commit(
            out,
            case.next_version(
                now,
                severity=severity,
                departments=(*case.departments, *added),
                reports=case.reports.appended(_case_report(facts)),
                repeat_alerted_at=alerted_at or case.repeat_alerted_at,
                duplicate_count=case.duplicate_count + 1,
            ),
            JOINED,
            facts.event_id,
        )
        changes = [f"co-handlers added: {', '.join(added)}"] if added else []
        if raised:
            changes.insert(0, f"severity raised to {severity.value}")
        return self._add_reasons(out, case, reasons, now, facts.event_id, "; ".join(changes))

    def update(
        self,
        case_id: str,
        action: CaseAction,
        actor_kind: ActorKind,
        event_id: str,
        occurred_at: datetime,
        note: str | None = None,
        supervision: Supervision | None = None,
        satisfaction: Satisfaction | None = None,
        reclassification: Reclassification | None = None,
    ) -> list[Effect]:
        """Apply a step from civic.case-updates.v1; a step the machine refuses is Rejected
        and leaves the case as it was."""
        case = self._cases.get(case_id)
        if case is None:
            return [Rejected(event_id, f"unknown case {case_id}", DeadLetterKind.UNKNOWN_CASE)]
        try:
            next_state(case.state, action, actor_kind)
            changes = self._changes(
                case, action, occurred_at, note, supervision, satisfaction, reclassification
            )
        except TransitionRejected as rejected:
            reason = f"case {case_id}: {rejected.reason}"
            return [Rejected(event_id, reason, DeadLetterKind.REJECTED_TRANSITION)]
        out: list[Effect] = []
        closed_at = case.updated_at  # an evaluation is the first change after closing

        reason = f"{action.value} by {actor_kind.value}"
        if action is CaseAction.RECLASSIFY:
            reason += (
                f" {case.category}/{case.severity.value} -> "
                f"{changes['category']}/{changes['severity'].value}"
            )
        reason += f": {note}" if note else ""
        before = case
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
        elif action is CaseAction.VERIFY:
            case = self._first_dispatch(out, case, occurred_at, event_id)
        elif (
            satisfaction is Satisfaction.DISSATISFIED
            and case.state is CaseState.CLOSED
            and timedelta(0) < self.reopen_window >= occurred_at - closed_at
        ):
            reason = "reopened: the resident is dissatisfied" + (f": {note}" if note else "")
            step = SystemStep.REOPEN_DISSATISFIED
            clock = self._clock(occurred_at, case.limit)
            case = self._step(out, case, step, None, occurred_at, reason, event_id, **clock)
        elif action is CaseAction.RECLASSIFY:
            self._rerouted(out, before, case, reason, event_id)
        if case.state is CaseState.DISPATCHED and (
            action in (CaseAction.REOPEN, CaseAction.CHECK_FAIL) or satisfaction is not None
        ):
            self._dispatch(out, case, reason)
        return out

    def _changes(
        self,
        case: Case,
        action: CaseAction,
        at: datetime,
        note: str | None,
        supervision: Supervision | None,
        satisfaction: Satisfaction | None,
        reclassification: Reclassification | None = None,
    ) -> dict[str, Any]:
        """What `action` changes besides the state; TransitionRejected for a step the case
        cannot take in what it holds (no pending extension to approve, a reject without its
        reason, a reclassification that corrects nothing)."""
        pending = case.extension_requested
        match action:
            case CaseAction.EXTEND:
                return self._extended(case, _extension(note, case))
            case CaseAction.REQUEST_EXTENSION:
                if pending is not None:
                    raise TransitionRejected(f"an extension of {pending} is already pending")
                return {"extension_requested": str(_extension(note, case))}
            case CaseAction.APPROVE_EXTENSION | CaseAction.REFUSE_EXTENSION:
                if pending is None:
                    raise TransitionRejected("no extension request is pending")
                if action is CaseAction.REFUSE_EXTENSION:
                    return {"extension_requested": None}
                return self._extended(case, TimeLimit.parse(pending))
            case CaseAction.REJECT if not note:
                raise TransitionRejected("reject needs its reason in note")
            case CaseAction.VERIFY:
                return self._clock(at, case.limit)
            case CaseAction.SUSPEND:
                return {"suspended_from": case.state, "suspended_at": at}
            case CaseAction.RESUME:
                return self._resumed(case, at)
            case CaseAction.SUPERVISE:
                return _supervised(case, supervision or Supervision.NORMAL)
            case CaseAction.REOPEN:
                return self._clock(at, case.limit)
            case CaseAction.EVALUATE:
                return {"evaluation": satisfaction.value if satisfaction else note}
            case CaseAction.RETURN:
                return {"return_count": case.return_count + 1}
            case CaseAction.CHECK_FAIL:
                return {"rework_count": case.rework_count + 1}
            case CaseAction.RECLASSIFY:
                if reclassification is None:
                    raise TransitionRejected("reclassify needs the corrected category")
                return self._reclassified(case, reclassification, at)
        return {}

    def _reclassified(self, case: Case, to: Reclassification, at: datetime) -> dict[str, Any]:
        """The case as its corrected category makes it (docs/contract.md, `reclassify`):
        that category's owners and time limit, the clock restarted now for the new owners;
        the severity the operator gave, else the category's own, never below a 督办 card's
        floor; network or grid by SPEC §5 for the new category, keeping the reasons that
        came from what happened to the case (a repeat point, a breach) rather than from
        what it was thought to be."""
        if to.severity is None and to.category == case.category:
            raise TransitionRejected(f"the case is already in category {case.category}")
        severity = to.severity or to.category_severity
        floor = None if case.supervision is None else _PRIORITY.get(case.supervision)
        severity = severity if floor is None else rules.most_urgent(severity, floor)
        if to.category == case.category and severity is case.severity:
            raise TransitionRejected(
                f"the case is already in category {case.category} at {severity.value}"
            )
        kept = [r for r in case.escalation_reasons if not rules.from_category(r)]
        derived = rules.network_reasons(severity, to.departments, ())
        reasons = tuple(dict.fromkeys((*derived, *kept)))
        if not reasons:
            level = Level.GRID
        elif case.network:
            level = case.level  # the rung it has climbed to keeps the case
        else:
            level = rules.NETWORK_FLOOR
        changes: dict[str, Any] = {
            "category": to.category,
            "severity": severity,
            "departments": to.departments,
            "limit": to.limit,
            "network": bool(reasons),
            "level": level,
            "escalation_reasons": reasons,
        }
        if case.state in SLA_RUNNING:
            changes |= self._clock(at, to.limit)
        return changes

    def _rerouted(
        self, out: list[Effect], before: Case, case: Case, reason: str, event_id: str
    ) -> None:
        """After a reclassification: the old owners' task withdrawn and the new owners'
        dispatched (a case still awaiting verification has no task yet), and the correction
        kept as a labelled example."""
        # the grid's index files reports by category: rebuilt at its next report
        self._indexes.pop(case.grid_id, None)
        if before.state in SLA_RUNNING:
            out.append(Withdrawn(before, reason))
            self._dispatch(out, case, reason)
        out.append(
            Corrected(
                case,
                event_id,
                before.reports[0].event_id,
                before.category,
                before.severity,
                case.updated_at,
            )
        )

    def _extended(self, case: Case, length: TimeLimit) -> dict[str, Any]:
        return {
            "deadline": self.calendar.deadline(case.deadline, length),
            "sla_stage": SlaStage.NONE,
            "extension_requested": None,
            "extension_count": case.extension_count + 1,
        }

    def _resumed(self, case: Case, at: datetime) -> dict[str, Any]:
        """Back to where it was, its clock restarted with the time that was left when it was
        suspended (wall-clock or working time, as its limit counts): 挂账 stops the clock."""
        assert case.suspended_from is not None
        assert case.suspended_at is not None
        if case.limit.unit is LimitUnit.HOURS:
            left = max(case.deadline - case.suspended_at, timedelta())
            deadline = at + left
        else:
            left = self.calendar.working_time(case.suspended_at, case.deadline)
            hours = TimeLimit(left.total_seconds() / 3600, LimitUnit.WORKING_HOURS)
            deadline = self.calendar.deadline(at, hours)
        return {
            "state": case.suspended_from,
            "suspended_from": None,
            "suspended_at": None,
            "deadline": deadline,
            "sla_started_at": at,
        }

    def open_finding(self, facts: ReportFacts, now: datetime) -> list[Effect]:
        """Open a case for a household cross-check finding (issue 21): registered and
        dispatched at once, like a report, but never joined by key or counted for a repeat
        point: its `code` is the finding's key, which the caller joins by."""
        out: list[Effect] = []
        reasons = rules.network_reasons(facts.severity, facts.departments, facts.network_reasons)
        self._open(out, facts, now, reasons, None)
        return out

    def withdraw(self, case_id: str, now: datetime, reason: str, event_id: str) -> list[Effect]:
        """Cancel an open case whose cause is gone (a household finding that new evidence
        withdrew), and take back the task its handlers hold; a settled case stays."""
        case = self._cases.get(case_id)
        if case is None or not case.state.is_open:
            return []
        out: list[Effect] = []
        self._step(out, case, SystemStep.WITHDRAW, None, now, reason, event_id)
        if case.state in SLA_RUNNING:
            out.append(Withdrawn(case, reason))
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

    def tick(self, now: datetime, grid_ids: Iterable[str] | None = None) -> list[Effect]:
        """Fire the SLA timers due at `now` (in `grid_ids`, or all): each warning and breach
        once per rung."""
        out: list[Effect] = []
        chosen = (
            self._cases
            if grid_ids is None
            else [c for g in grid_ids for c in self._by_grid.get(g, ())]
        )
        for case_id in sorted(chosen):
            case = self._cases[case_id]
            if case.state not in SLA_RUNNING:
                continue
            try:
                fraction = self.calendar.elapsed_fraction(
                    case.sla_started_at, case.deadline, now, case.limit
                )
            except (ValueError, OverflowError) as error:
                # a case stored with a time from 1900 once failed every tick of its grid,
                # and a case six days overdue there never breached
                out.append(TimerFailed(case_id, str(error)))
                continue
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


def _case_report(facts: ReportFacts) -> CaseReport:
    return CaseReport(
        facts.event_id, facts.occurred_at, facts.reporter_hash, facts.code, facts.lat, facts.lon
    )


def _by_time(report: _Report) -> tuple[datetime, str]:
    return report.at, report.event_id


_PRIORITY = {Supervision.YELLOW: Severity.P2, Supervision.RED: Severity.P1}


def _supervised(case: Case, card: Supervision) -> dict[str, Any]:
    """督办: the strongest card stays on the case, and a yellow or red card raises its
    severity to at least P2 or P1 (the desk and the departments order work by it)."""
    cards = list(Supervision)
    strongest = card if case.supervision is None else max(case.supervision, card, key=cards.index)
    raised = _PRIORITY.get(card)
    severity = case.severity if raised is None else rules.most_urgent(case.severity, raised)
    return {
        "supervision": strongest,
        "supervision_count": case.supervision_count + 1,
        "severity": severity,
    }


def _extension(note: str | None, case: Case) -> TimeLimit:
    """An approved extension may name its length ("2 working days"); else one more limit."""
    if note:
        try:
            return TimeLimit.parse(note)
        except ValueError:
            pass
    return case.limit
