"""Household-registration cross-checks (issue 21): 人户分离, 应落未落, 应销未销, data quality.

Pure: a person's registrations (civic.residents.v1, already hashed) and the observations of
where they were seen (civic.presence.v1) in, findings out. Every finding names its rule, the
thresholds it applied and its evidence (masked ids, sources, days), so a police officer can
see why it was raised and a later observation can withdraw it (the caller re-runs the rules
and drops findings that no longer come out).

Only observations at a dwelling count as living somewhere: a venue scan at the person's
workplace or a market is not where they live. Observations dated after `as_of` are ignored
(a clock-skewed producer must not decide today's findings).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise

from civicgrid.domain.privacy import mask_id
from civicgrid.schemas.enums import PresenceKind, PresenceSource, RegistrationStatus
from civicgrid.schemas.inbound import PresenceObservation, Registration, ResidentRecord


class FindingKind(StrEnum):
    LIVING_APART = "living_apart"  # 人户分离
    UNREGISTERED = "unregistered"  # 应落未落
    NOT_DEREGISTERED = "not_deregistered"  # 应销未销
    DUPLICATE_REGISTRATION = "duplicate_registration"  # one person in two households
    NOT_A_DWELLING = "not_a_dwelling"  # a household registered at a place nobody lives in


@dataclass(frozen=True, slots=True)
class HouseholdThresholds:
    """The city's rules of thumb; every finding carries the values it was judged by."""

    window_days: int = 270  # the look-back for where someone lives now
    still_here_days: int = 150  # seen this recently: still living here
    apart_min_days: int = 2  # distinct days of evidence: at the other place, or absent at home
    apart_min_points: int = 6  # the evidence's weight, each source by its reliability:
    visit_points: int = 3  # a census sheet's line: the household says they live here
    rental_points: int = 3  # a rental registration: a contract to live here
    utility_points: int = 1  # a month's bill: an account, not always its holder
    scan_points: int = 1  # a day's gate scan: they were there, not that they sleep there
    scan_max_points: int = 3  # scans support, they cannot outweigh the census
    absent_points: int = 3  # a sheet at home saying "not living here"
    permit_days: int = 180  # the residence-permit period (居住证: six months)
    unregistered_min_days: int = 3
    child_max_years: int = 16
    newborn_grace_days: int = 30  # a birth is registered within a month (出生登记)
    child_min_days: int = 2
    child_min_span_days: int = 30  # a visiting grandchild stays days, not a month
    silent_days: int = 365  # no presence anywhere for this long
    silent_min_unanswered_visits: int = 4  # home visits to the household that missed the person
    absent_quiet_days: int = 120  # no presence anywhere since, for the "gone" rule:
    gone_min_points: int = 6  # "not living here" sheets (absent_points each: one may be a
    missed_points: int = 1  # slip) and visits to the household that left the person off
    away_min_missed: int = 1  # a quiet this long before, then back: someone who comes and goes
    dwelling_kinds: frozenset[str] = frozenset({"doorplate", "rental_house"})

    def applied(self, *names: str) -> dict[str, int]:
        values = asdict(self)
        return {name: values[name] for name in names}


# Per-city defaults; a city not listed gets the plain defaults.
CITY_THRESHOLDS: Mapping[str, HouseholdThresholds] = {
    "泰州市": HouseholdThresholds(),
}


def thresholds_for(city: str) -> HouseholdThresholds:
    return CITY_THRESHOLDS.get(city, HouseholdThresholds())


@dataclass(frozen=True, slots=True)
class Place:
    """A registry element as the rules need it: its kind tells a dwelling from the rest."""

    code: str
    kind: str
    grid_id: str


@dataclass(frozen=True, slots=True)
class Sighting:
    """One presence observation reduced to what the rules read, dated by its own day."""

    source: PresenceSource
    kind: PresenceKind
    place_code: str | None
    day: date
    born_on: date | None = None

    @classmethod
    def of(cls, observation: PresenceObservation) -> "Sighting":
        return cls(
            observation.source,
            observation.kind,
            observation.place_code,
            observation.occurred_at.date(),
            observation.born_on,
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    source: PresenceSource
    kind: PresenceKind
    place_code: str | None
    days: int
    first: date
    last: date


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    rule: str
    subject: str  # the hashed person code, or the hashed household id for household findings
    place_code: str | None  # where the case belongs: the grid of this place
    grid_id: str | None
    decisive_on: date  # the day of the observation (or registration) that made the rule hold
    thresholds: Mapping[str, int]
    evidence: tuple[Evidence, ...] = ()
    households: tuple[str, ...] = field(default=())  # masked

    @property
    def key(self) -> tuple[FindingKind, str]:
        return (self.kind, self.subject)

    @property
    def masked_subject(self) -> str:
        return mask_id(self.subject)


def visit_days(sightings: Iterable[tuple[str, Sighting]]) -> dict[str, frozenset[date]]:
    """Per place, the days a home visit recorded anyone there: a visit to a household that
    saw the others but not this person is a visit that missed them."""
    days: defaultdict[str, set[date]] = defaultdict(set)
    for _, s in sightings:
        if s.source is PresenceSource.HOME_VISIT and s.place_code is not None:
            days[s.place_code].add(s.day)
    return {place: frozenset(d) for place, d in days.items()}


def _evidence(sightings: Sequence[Sighting]) -> tuple[Evidence, ...]:
    groups: defaultdict[tuple[PresenceSource, PresenceKind, str | None], set[date]] = defaultdict(
        set
    )
    for s in sightings:
        groups[(s.source, s.kind, s.place_code)].add(s.day)
    return tuple(
        Evidence(source, kind, place, len(days), min(days), max(days))
        for (source, kind, place), days in sorted(groups.items(), key=lambda g: min(g[1]))
    )


def _first_day_meeting(
    t: HouseholdThresholds, seen: Sequence[Sighting], absent: Sequence[Sighting]
) -> date:
    """The day the living-apart evidence first reached its thresholds."""
    ordered = sorted([*seen, *absent], key=lambda s: s.day)
    for n, s in enumerate(ordered):
        upto = ordered[: n + 1]
        there = [x for x in upto if x.kind is PresenceKind.PRESENT]
        gone = {x.day for x in upto if x.kind is PresenceKind.ABSENT}
        days = len({x.day for x in there} | gone)
        if (
            any(x.source in _RESIDENCE for x in there)
            and days >= t.apart_min_days
            and _points(t, there) + t.absent_points * len(gone) >= t.apart_min_points
        ):
            return s.day
    return ordered[-1].day


_LOOK_ALIKE = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "Z": "2", "S": "5"})


def looks_alike(a: str, b: str) -> bool:
    """Two place codes one typing slip apart: a digit typed as the letter it looks like, or
    two neighbouring characters swapped. A census sheet or a register entry is typed by hand;
    a scan's code is read from the QR code and is not."""
    if a == b or len(a) != len(b):
        return a == b
    if a.translate(_LOOK_ALIKE) == b.translate(_LOOK_ALIKE):
        return True
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def _years(born_on: date, on: date) -> int:
    return on.year - born_on.year - ((on.month, on.day) < (born_on.month, born_on.day))


class _Person:
    """One person's inputs, sorted into what each rule reads."""

    def __init__(
        self,
        person_code: str,
        resident: ResidentRecord | None,
        sightings: Iterable[Sighting],
        places: Mapping[str, Place],
        as_of: date,
        t: HouseholdThresholds,
    ) -> None:
        self.code = person_code
        self.t = t
        self.as_of = as_of
        self.places = places
        self.active: list[Registration] = [
            r
            for r in (resident.registrations if resident else ())
            if r.status is RegistrationStatus.REGISTERED
        ]
        self.born_on = resident.born_on if resident else None
        self.sightings = sorted((s for s in sightings if s.day <= as_of), key=lambda s: s.day)
        since = as_of - timedelta(days=t.window_days)
        self.living = [
            s
            for s in self.sightings
            if s.kind is PresenceKind.PRESENT and self.is_dwelling(s.place_code)
        ]
        self.recent = [s for s in self.living if s.day > since]
        # The registered places, and the codes seen that are one typing slip from one of them:
        # a sheet with a mistyped doorplate, or a register entry with one, is still home.
        self.registered = {r.place_code for r in self.active}
        self.home_codes = set(self.registered) | {
            s.place_code
            for s in self.sightings
            if s.place_code is not None
            and s.place_code not in self.registered
            and any(looks_alike(s.place_code, code) for code in self.registered)
        }

    def is_dwelling(self, code: str | None) -> bool:
        place = self.places.get(code) if code is not None else None
        return place is not None and place.kind in self.t.dwelling_kinds

    def grid(self, code: str | None) -> str | None:
        place = self.places.get(code) if code is not None else None
        return place.grid_id if place is not None else None

    def finding(
        self,
        kind: FindingKind,
        rule: str,
        place_code: str | None,
        decisive_on: date,
        thresholds: Sequence[str],
        evidence: Sequence[Sighting] = (),
        subject: str | None = None,
    ) -> Finding:
        return Finding(
            kind,
            rule,
            subject or self.code,
            place_code,
            self.grid(place_code),
            decisive_on,
            self.t.applied(*thresholds),
            _evidence(evidence),
            tuple(sorted(mask_id(r.household_id) for r in self.active)),
        )


def reconcile_person(
    person_code: str,
    resident: ResidentRecord | None,
    sightings: Iterable[Sighting],
    places: Mapping[str, Place],
    as_of: date,
    thresholds: HouseholdThresholds,
    visits: Mapping[str, frozenset[date]] | None = None,
    observed_since: date | None = None,
) -> list[Finding]:
    """Every finding for one person as of `as_of`.

    `visits` (from `visit_days`) lets the silence rule count home visits that missed the
    person; `observed_since` is when presence data starts being complete: silence before it
    proves nothing.
    """
    p = _Person(person_code, resident, sightings, places, as_of, thresholds)
    findings = _data_quality(p)
    if p.active:
        findings += _not_deregistered(p, visits or {}, observed_since)
        if not any(f.kind is FindingKind.NOT_DEREGISTERED for f in findings):
            findings += _living_apart(p)
    else:
        findings += _unregistered(p)
    return findings


def _data_quality(p: _Person) -> list[Finding]:
    findings = []
    households = {r.household_id for r in p.active}
    if len(households) > 1:
        latest = max(p.active, key=lambda r: r.registered_on)
        findings.append(
            p.finding(
                FindingKind.DUPLICATE_REGISTRATION,
                "registered in more than one household",
                latest.place_code,
                latest.registered_on,
                (),
            )
        )
    for entry in p.active:
        place = p.places.get(entry.place_code)
        if place is None or place.kind not in p.t.dwelling_kinds:
            rule = (
                "registered place unknown to the registry"
                if place is None
                else (f"registered place is a {place.kind}, not a dwelling")
            )
            where = entry.place_code
            # a register entry one typing slip from a dwelling the person is seen at: that
            # dwelling is the likely entry, and its grid's station gets the case
            slipped = sorted(
                code
                for code in p.home_codes - p.registered
                if p.is_dwelling(code) and looks_alike(code, entry.place_code)
            )
            if place is None and slipped:
                where = slipped[0]
                rule += f", one typing slip from {where}, where the person is seen"
            findings.append(
                p.finding(
                    FindingKind.NOT_A_DWELLING,
                    rule,
                    where,
                    entry.registered_on,
                    (),
                    subject=entry.household_id,
                )
            )
    return findings


_LEAVING = {
    PresenceKind.DIED: "died",
    PresenceKind.EMIGRATED: "emigrated",
    PresenceKind.REGISTERED_ELSEWHERE: "registered elsewhere",
}


def _not_deregistered(
    p: _Person, visits: Mapping[str, frozenset[date]], observed_since: date | None
) -> list[Finding]:
    home = max(p.active, key=lambda r: r.registered_on)
    leaving = [s for s in p.sightings if s.kind in _LEAVING and s.day >= home.registered_on]
    if leaving:
        first = leaving[0]
        return [
            p.finding(
                FindingKind.NOT_DEREGISTERED,
                f"registered, but a {first.source.value} says {_LEAVING[first.kind]}",
                home.place_code,
                first.day,
                (),
                leaving,
            )
        ]
    t = p.t
    present = [s.day for s in p.sightings if s.kind is PresenceKind.PRESENT]
    last_seen = max(present, default=None)
    home_codes = p.home_codes
    absent = [
        s
        for s in p.sightings
        if s.kind is PresenceKind.ABSENT
        and s.place_code in home_codes
        and (last_seen is None or s.day > last_seen)
    ]
    # Away for a long while before and back again (works away, studies away): for this person
    # "not living here" tells an absence, not a departure, so only the long silence decides.
    came_back = _came_back(p, visits, present, observed_since)
    quiet_from = max(
        home.registered_on, observed_since or home.registered_on, last_seen or home.registered_on
    )
    quiet_days = (p.as_of - quiet_from).days
    absent_days = sorted({s.day for s in absent})
    missed = sorted(d for code in p.registered for d in visits.get(code, ()) if d > quiet_from)
    left_off = [d for d in missed if d not in set(absent_days)]
    # The weight of "gone", day by day: sheets saying so, visits that left the person off.
    weights = sorted(
        [(d, t.absent_points) for d in absent_days] + [(d, t.missed_points) for d in left_off]
    )
    points, gone_on = 0, None
    for d, w in weights:
        points += w
        if points >= t.gone_min_points:
            gone_on = d
            break
    if not came_back and gone_on is not None and quiet_days >= t.absent_quiet_days:
        rule = (
            f"{len(absent_days)} home visits say not living here, {len(left_off)} left them "
            f"off, no presence anywhere since"
        )
        decisive = max(gone_on, quiet_from + timedelta(t.absent_quiet_days))
        applied: tuple[str, ...] = (
            "absent_points",
            "missed_points",
            "gone_min_points",
            "absent_quiet_days",
        )
    elif quiet_days >= t.silent_days and len(missed) >= t.silent_min_unanswered_visits:
        rule = f"no presence anywhere for {t.silent_days} days, {len(missed)} home visits missed"
        decisive = max(
            missed[t.silent_min_unanswered_visits - 1], quiet_from + timedelta(t.silent_days)
        )
        applied = ("silent_days", "silent_min_unanswered_visits")
    else:
        return []
    return [
        p.finding(FindingKind.NOT_DEREGISTERED, rule, home.place_code, decisive, applied, absent)
    ]


def _came_back(
    p: _Person,
    visits: Mapping[str, frozenset[date]],
    present: Sequence[date],
    observed_since: date | None,
) -> bool:
    """Whether the record shows a quiet of `absent_quiet_days` or more (from the start of
    complete data, or between two presences), with a "not living here" sheet or
    `away_min_missed` visits that left the person off, after which they were seen."""
    t = p.t
    days = sorted(set(present))
    if observed_since is not None and days and observed_since < days[0]:
        days.insert(0, observed_since)
    home_visits = sorted({d for code in p.registered for d in visits.get(code, ())})
    absent = {
        s.day for s in p.sightings if s.kind is PresenceKind.ABSENT and s.place_code in p.home_codes
    }
    for before, after in pairwise(days):
        if (after - before).days >= t.absent_quiet_days:
            between = [d for d in home_visits if before < d < after]
            if len(between) >= t.away_min_missed or any(before < d < after for d in absent):
                return True
    return False


_RESIDENCE = frozenset(
    {PresenceSource.HOME_VISIT, PresenceSource.RENTAL_REGISTRATION, PresenceSource.UTILITY_ACCOUNT}
)


def _points(t: HouseholdThresholds, seen: Sequence[Sighting]) -> int:
    """The weight of the evidence that someone lives at a place: distinct days per source,
    each source by its reliability, scans capped."""
    days: defaultdict[PresenceSource, set[date]] = defaultdict(set)
    for s in seen:
        days[s.source].add(s.day)
    scans = min(len(days[PresenceSource.VENUE_SCAN]) * t.scan_points, t.scan_max_points)
    return (
        scans
        + len(days[PresenceSource.HOME_VISIT]) * t.visit_points
        + len(days[PresenceSource.RENTAL_REGISTRATION]) * t.rental_points
        + len(days[PresenceSource.UTILITY_ACCOUNT]) * t.utility_points
    )


def _living_apart(p: _Person) -> list[Finding]:
    t = p.t
    home = p.home_codes
    since = p.as_of - timedelta(days=t.window_days)
    absent = [
        s
        for s in p.sightings
        if s.kind is PresenceKind.ABSENT and s.place_code in home and s.day > since
    ]
    elsewhere: defaultdict[str, list[Sighting]] = defaultdict(list)
    for s in p.recent:
        if s.place_code is not None and s.place_code not in home:
            elsewhere[s.place_code].append(s)
    best: tuple[int, str] | None = None
    for code, seen in elsewhere.items():
        # Scans alone show a visit, a workplace, a parent's flat: living needs the census,
        # a rental contract or a bill there.
        if not any(s.source in _RESIDENCE for s in seen):
            continue
        moved = min(s.day for s in seen)
        gone = {s.day for s in absent}
        days = len({s.day for s in seen} | gone)
        points = _points(t, seen) + t.absent_points * len(gone)
        # Where they mostly live since: weighed the same way at home.
        at_home = _points(t, [s for s in p.recent if s.place_code in home and s.day >= moved])
        if days >= t.apart_min_days and points >= t.apart_min_points and points > at_home:
            best = max(best or (points, code), (points, code))
    if best is None:
        return []
    code = best[1]
    seen = elsewhere[code]
    return [
        p.finding(
            FindingKind.LIVING_APART,
            "registered at one place, living at another",
            code,
            _first_day_meeting(t, seen, absent),
            (
                "window_days",
                "apart_min_days",
                "apart_min_points",
                "visit_points",
                "rental_points",
                "utility_points",
                "scan_points",
                "scan_max_points",
                "absent_points",
            ),
            [*seen, *absent],
        )
    ]


def _unregistered(p: _Person) -> list[Finding]:
    t = p.t
    if not p.living:
        return []
    lookback = p.as_of - timedelta(days=t.permit_days + t.window_days)
    living = [s for s in p.living if s.day > lookback]
    if not living:
        return []
    days = sorted({s.day for s in living})
    # Where they live: the dwelling seen on most days (each living sighting has a place).
    where = Counter(s.place_code for s in living).most_common(1)[0][0]
    span = (days[-1] - days[0]).days
    still_here = days[-1] > p.as_of - timedelta(days=t.still_here_days)
    stayed = (p.as_of - days[0]).days >= t.permit_days
    if still_here and stayed and len(days) >= t.unregistered_min_days:
        decisive = max(days[t.unregistered_min_days - 1], days[0] + timedelta(t.permit_days))
        return [
            p.finding(
                FindingKind.UNREGISTERED,
                "living in the city for the residence-permit period, registered nowhere in it",
                where,
                decisive,
                ("permit_days", "still_here_days", "unregistered_min_days"),
                living,
            )
        ]
    born_on = p.born_on or next((s.born_on for s in reversed(living) if s.born_on), None)
    if born_on is None or born_on > p.as_of:
        return []
    is_child = _years(born_on, p.as_of) < t.child_max_years
    past_grace = (p.as_of - born_on).days > t.newborn_grace_days
    if is_child and past_grace and len(days) >= t.child_min_days and span >= t.child_min_span_days:
        decisive = next(d for d in days if (d - days[0]).days >= t.child_min_span_days)
        return [
            p.finding(
                FindingKind.UNREGISTERED,
                "a child living in the city, registered nowhere",
                where,
                max(decisive, born_on + timedelta(days=t.newborn_grace_days + 1)),
                ("child_max_years", "newborn_grace_days", "child_min_days", "child_min_span_days"),
                living,
            )
        ]
    return []


def reconcile(
    residents: Mapping[str, ResidentRecord],
    sightings: Mapping[str, Sequence[Sighting]],
    places: Mapping[str, Place],
    as_of: date,
    thresholds: HouseholdThresholds,
    observed_since: date | None = None,
) -> list[Finding]:
    """All findings of a population, one per (kind, subject): a household's finding is
    raised once, not once per member."""
    visits = visit_days((code, s) for code, seen in sightings.items() for s in seen)
    found: dict[tuple[FindingKind, str], Finding] = {}
    for code in residents.keys() | sightings.keys():
        for f in reconcile_person(
            code,
            residents.get(code),
            sightings.get(code, ()),
            places,
            as_of,
            thresholds,
            visits,
            observed_since,
        ):
            found.setdefault(f.key, f)
    return sorted(found.values(), key=lambda f: (f.kind, f.subject))
