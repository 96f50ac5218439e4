"""A simulated town for the household cross-checks (issue 21), apart from the city simulator.

One street (the seed's 泰州 police station: 14,952 households, 44,765 people) in 40 grids of
four communities. Each grid has dwellings (doorplates, some rental houses) and places nobody
lives in (shops, offices, a market) where people work and scan.

Eighteen months of observations are made as a census would make them: quarterly home visits
(入户走访) that record each member with a miss rate, 祥泰码 scans at the residential gate and
many more at the workplace, monthly utility readings for household heads, rental
registrations for tenants, and records arriving up to a month late. The noise the rules must
withstand: visits that miss people, scans at workplaces (some of them in a dwelling: a nanny,
a home workshop), short stays with relatives, visiting grandchildren, newcomers who have not
yet stayed the residence-permit period, and the occasional wrong "absent" on a visit sheet.

Planted, at the seed's rates (319 / 44,765 living apart, 431 / 44,765 who should be
registered or deregistered): people registered at one dwelling and living at another;
long-term residents and children registered nowhere; the dead, the emigrated and those
registered elsewhere still on the register (each with a record of it or not); one person in
two households; households registered at a shop. The ground truth is returned apart
(`Town.truth`) and the rules never see it.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from civicgrid.domain.households import FindingKind, Place, Sighting
from schemas.enums import (
    HouseholdRole,
    PresenceKind,
    PresenceSource,
    RegistrationStatus,
)
from schemas.inbound import Registration, ResidentRecord

AS_OF = date(2026, 6, 30)
OBSERVED_SINCE = AS_OF - timedelta(days=540)
COMMUNITIES, GRIDS_PER_COMMUNITY = 4, 10
HOUSEHOLDS = 15_000
DWELLINGS_PER_GRID = 400  # a few more dwellings than households: some stand empty
WORKPLACES_PER_GRID = 12

RATE_APART = 319 / 44_765
RATE_UNREGISTERED = 0.0045
RATE_NOT_DEREGISTERED = 431 / 44_765 - RATE_UNREGISTERED
RATE_DUPLICATE = 0.0006
RATE_NOT_DWELLING_HOUSEHOLD = 0.0012

VISIT_MISS = 0.2  # a visit sheet that leaves out someone who lives there
VISIT_WRONG_ABSENT = 0.003
LATE_MAX_DAYS = 30

Truth = dict[tuple[FindingKind, str], str]  # (kind, clear subject) -> the planted story


@dataclass
class Observed:
    """A sighting and the day it reached the stream (late census sheets arrive weeks after)."""

    sighting: Sighting
    published: date


@dataclass
class Town:
    places: dict[str, Place]
    grid_of_household: dict[str, str]
    residents: dict[str, ResidentRecord]  # clear person codes: intake hashes them
    sightings: dict[str, list[Observed]] = field(default_factory=lambda: defaultdict(list))
    truth: Truth = field(default_factory=dict)

    @property
    def people(self) -> int:
        return len(self.residents.keys() | self.sightings.keys())


@dataclass
class _Person:
    code: str
    born_on: date
    household: str
    role: HouseholdRole
    home: str  # the dwelling they really live at
    work: str | None


def _days(start: date, end: date) -> int:
    return max(0, (end - start).days)


class _Builder:
    def __init__(self, seed: int, communities: int, households: int) -> None:
        self.communities = communities
        self.households = households
        self.rng = random.Random(seed)
        self.places: dict[str, Place] = {}
        self.dwellings: list[str] = []
        self.workplaces: list[str] = []
        self.town = Town({}, {}, {})
        self.visit_days: dict[str, list[date]] = {}
        self.serial = 0

    def build(self) -> Town:
        self._places()
        self.town.places = self.places
        homes = self.rng.sample(self.dwellings, self.households)
        for n, home in enumerate(homes):
            self._household(f"HH{n:05d}", home)
        self._newcomers()
        return self.town

    # --- places -------------------------------------------------------------------------
    def _places(self) -> None:
        for c in range(self.communities):
            for g in range(GRIDS_PER_COMMUNITY):
                grid = f"TZ-HL-07-{c + 1:02d}-{g + 1:03d}"
                for d in range(DWELLINGS_PER_GRID):
                    kind = "rental_house" if self.rng.random() < 0.15 else "doorplate"
                    self._place(f"{grid}-D{d:03d}", kind, grid, self.dwellings)
                for w in range(WORKPLACES_PER_GRID):
                    kind = self.rng.choice(("shop", "office", "market", "factory"))
                    self._place(f"{grid}-W{w:02d}", kind, grid, self.workplaces)

    def _place(self, code: str, kind: str, grid: str, into: list[str]) -> None:
        self.places[code] = Place(code, kind, grid)
        into.append(code)

    # --- observation helpers ------------------------------------------------------------
    def _day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange(max(1, _days(start, end))))

    def _see(
        self,
        person: str,
        source: PresenceSource,
        place: str | None,
        day: date,
        kind: PresenceKind = PresenceKind.PRESENT,
        born_on: date | None = None,
    ) -> None:
        late = self.rng.randrange(LATE_MAX_DAYS) if source is PresenceSource.HOME_VISIT else 0
        self.town.sightings[person].append(
            Observed(Sighting(source, kind, place, day, born_on), day + timedelta(days=late))
        )

    def _visits(self, place: str) -> list[date]:
        """The quarterly visit days of a dwelling, the same for everyone living there."""
        if place not in self.visit_days:
            first = OBSERVED_SINCE + timedelta(days=self.rng.randrange(90))
            self.visit_days[place] = [
                first + timedelta(days=90 * q + self.rng.randrange(-10, 10))
                for q in range(6)
                if first + timedelta(days=90 * q + 10) < AS_OF
            ]
        return self.visit_days[place]

    def _live(
        self, p: str, home: str, start: date, end: date, *, scans: float, born: date | None = None
    ) -> None:
        """Someone living at `home` from `start` to `end`: visits, gate scans, bills."""
        for day in self._visits(home):
            if start <= day < end:
                if self.rng.random() < VISIT_WRONG_ABSENT:
                    self._see(p, PresenceSource.HOME_VISIT, home, day, PresenceKind.ABSENT)
                elif self.rng.random() > VISIT_MISS:
                    self._see(p, PresenceSource.HOME_VISIT, home, day, born_on=born)
        for _ in range(self._poisson(scans * _days(start, end) / 540)):
            self._see(p, PresenceSource.VENUE_SCAN, home, self._day(start, end))

    def _poisson(self, mean: float) -> int:
        # Knuth's method is enough for the small means here.
        limit, k, product = pow(2.718281828459045, -mean), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    def _work(self, p: str, work: str, start: date, end: date) -> None:
        for _ in range(self._poisson(25 * _days(start, end) / 540)):
            self._see(p, PresenceSource.VENUE_SCAN, work, self._day(start, end))

    # --- the people ---------------------------------------------------------------------
    def _household(self, household: str, home: str) -> None:
        rng = self.rng
        self.town.grid_of_household[household] = self.places[home].grid_id
        registered_at = home
        size = rng.choices((1, 2, 3, 4, 5), (0.12, 0.25, 0.3, 0.2, 0.13))[0]
        if rng.random() < RATE_NOT_DWELLING_HOUSEHOLD:
            registered_at = rng.choice(self.workplaces)  # a household on a shop's doorplate
            self.town.truth[(FindingKind.NOT_A_DWELLING, household)] = "registered at a shop"
            for n in range(size):  # who live at home: registered at one place, living at another
                self.town.truth[(FindingKind.LIVING_APART, f"P{self.serial + n + 1:06d}")] = (
                    "registered at a shop, living at home"
                )
        members = self._members(household, home, size)
        utility = rng.random() < 0.6
        for m in members:
            self._person(m, registered_at, utility and m.role is HouseholdRole.HEAD)
        if rng.random() < 0.025 * size:  # a grandchild visiting for the summer
            self._visitor(home, child=True)
        if rng.random() < 0.01:  # a relative from out of town, a few days
            self._visitor(home, child=False)

    def _members(self, household: str, home: str, size: int) -> list[_Person]:
        rng = self.rng
        head_age = rng.randint(24, 85)
        members = [(HouseholdRole.HEAD, head_age)]
        if size > 1:
            members.append((HouseholdRole.SPOUSE, max(20, head_age + rng.randint(-5, 5))))
        for _ in range(size - len(members)):
            if head_age > 40 and rng.random() < 0.7:
                members.append((HouseholdRole.CHILD, rng.randint(0, max(0, head_age - 22))))
            else:
                members.append((HouseholdRole.PARENT, min(99, head_age + rng.randint(20, 30))))
        people = []
        for role, age in members:
            self.serial += 1
            born = AS_OF - timedelta(days=365 * age + rng.randrange(365))
            works = 18 <= age < 65 and rng.random() < 0.8
            work = None
            if works:
                # a few work in someone's home: a nanny, a home workshop
                work = rng.choice(self.dwellings if rng.random() < 0.02 else self.workplaces)
            people.append(_Person(f"P{self.serial:06d}", born, household, role, home, work))
        return people

    def _scans(self, person: _Person) -> float:
        age = (AS_OF - person.born_on).days // 365
        if age < 12 or age >= 75:
            return self.rng.choice((0.0, 0.0, 1.0, 3.0))
        return self.rng.uniform(2.0, 20.0)

    def _person(self, m: _Person, registered_at: str, utility: bool) -> None:
        rng = self.rng
        entry = Registration(
            household_id=m.household,
            place_code=registered_at,
            role=m.role,
            status=RegistrationStatus.REGISTERED,
            registered_on=max(m.born_on, date(2000, 1, 1)) + timedelta(days=20),
        )
        entries = [entry]
        roll = rng.random()
        story = None
        if roll < RATE_APART:
            story = self._apart(m)
        elif roll < RATE_APART + RATE_NOT_DEREGISTERED:
            story = self._gone(m)
        elif roll < RATE_APART + RATE_NOT_DEREGISTERED + RATE_UNREGISTERED * 0.25:
            # born here and never registered: a child of the household not on the register
            if (AS_OF - m.born_on).days > 365 * 12:
                m.born_on = AS_OF - timedelta(days=rng.randint(60, 365 * 10))
            self._live(m.code, m.home, OBSERVED_SINCE, AS_OF, scans=0.5, born=m.born_on)
            self.town.truth[(FindingKind.UNREGISTERED, m.code)] = "child never registered"
            return
        else:
            self._live(m.code, m.home, OBSERVED_SINCE, AS_OF, scans=self._scans(m))
            if m.work is not None:
                self._work(m.code, m.work, OBSERVED_SINCE, AS_OF)
            if utility:
                for month in range(18):
                    self._see(
                        m.code,
                        PresenceSource.UTILITY_ACCOUNT,
                        m.home,
                        OBSERVED_SINCE + timedelta(days=30 * month + 15),
                    )
            if rng.random() < 0.04:  # a few days with relatives in the street
                stay = rng.choice(self.dwellings)
                start = self._day(OBSERVED_SINCE, AS_OF)
                for d in range(rng.randint(1, 4)):
                    if rng.random() < 0.6:
                        self._see(m.code, PresenceSource.VENUE_SCAN, stay, start + timedelta(d))
        if rng.random() < RATE_DUPLICATE:
            other = rng.choice(self.dwellings)
            entries.append(
                entry.model_copy(
                    update={
                        "household_id": f"{m.household}-dup",
                        "place_code": other,
                        "registered_on": entry.registered_on + timedelta(days=400),
                    }
                )
            )
            self.town.truth[(FindingKind.DUPLICATE_REGISTRATION, m.code)] = "two households"
        if story is not None:
            self.town.truth[story] = story[0].value
        self.town.residents[m.code] = ResidentRecord(
            person_code=m.code, born_on=m.born_on, registrations=tuple(entries)
        )

    def _apart(self, m: _Person) -> tuple[FindingKind, str]:
        """Registered at home, living at another dwelling of the street."""
        rng = self.rng
        elsewhere = rng.choice(self.dwellings)
        moved = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=120))
        self._live(m.code, m.home, OBSERVED_SINCE, moved, scans=self._scans(m))
        self._live(m.code, elsewhere, moved, AS_OF, scans=max(2.0, self._scans(m)))
        if self.places[elsewhere].kind == "rental_house" or rng.random() < 0.3:
            self._see(m.code, PresenceSource.RENTAL_REGISTRATION, elsewhere, moved)
        if m.work is not None:
            self._work(m.code, m.work, OBSERVED_SINCE, AS_OF)
        for day in self._visits(m.home):
            if day >= moved and rng.random() < 0.4:
                self._see(m.code, PresenceSource.HOME_VISIT, m.home, day, PresenceKind.ABSENT)
        return (FindingKind.LIVING_APART, m.code)

    def _gone(self, m: _Person) -> tuple[FindingKind, str]:
        """Dead, emigrated or registered elsewhere, and still on the register."""
        rng = self.rng
        left = self._day(OBSERVED_SINCE - timedelta(days=200), AS_OF - timedelta(days=60))
        how = rng.choices(("died", "emigrated", "elsewhere"), (0.6, 0.2, 0.2))[0]
        if left > OBSERVED_SINCE:
            self._live(m.code, m.home, OBSERVED_SINCE, left, scans=self._scans(m))
        record = {
            "died": (PresenceSource.DEATH_RECORD, PresenceKind.DIED, 0.7),
            "emigrated": (PresenceSource.EXIT_RECORD, PresenceKind.EMIGRATED, 0.6),
            "elsewhere": (PresenceSource.TRANSFER_NOTICE, PresenceKind.REGISTERED_ELSEWHERE, 0.8),
        }[how]
        if rng.random() < record[2]:
            self._see(m.code, record[0], None, left + timedelta(days=rng.randrange(15)), record[1])
        for day in self._visits(m.home):
            if day > left and rng.random() < 0.5:
                said = (
                    PresenceKind.DIED
                    if how == "died" and rng.random() < 0.5
                    else (PresenceKind.ABSENT)
                )
                self._see(m.code, PresenceSource.HOME_VISIT, m.home, day, said)
        return (FindingKind.NOT_DEREGISTERED, m.code)

    def _visitor(self, home: str, *, child: bool) -> None:
        """Someone staying a while, registered nowhere here: not a finding."""
        rng = self.rng
        self.serial += 1
        code = f"V{self.serial:06d}"
        born = AS_OF - timedelta(days=rng.randint(365 * 3, 365 * 12) if child else 365 * 50)
        start = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=30))
        stay = rng.randint(5, 40) if child else rng.randint(1, 6)
        end = start + timedelta(days=stay)
        self._live(code, home, start, end, scans=30.0, born=born)

    def _newcomers(self) -> None:
        """People who moved into the street and registered nowhere in the city: a finding
        once they have stayed the residence-permit period, not before."""
        rng = self.rng
        planted = round(self.households * 3 * RATE_UNREGISTERED * 0.75)
        for n in range(planted * 2):
            self.serial += 1
            code = f"N{self.serial:06d}"
            home = rng.choice(self.dwellings)
            long_term = n < planted
            arrived = AS_OF - timedelta(
                days=rng.randint(230, 540) if long_term else rng.randint(20, 150)
            )
            self._live(code, home, arrived, AS_OF, scans=rng.uniform(4.0, 20.0))
            if self.places[home].kind == "rental_house" and rng.random() < 0.7:
                self._see(code, PresenceSource.RENTAL_REGISTRATION, home, arrived)
            if rng.random() < 0.7:
                self._work(code, rng.choice(self.workplaces), arrived, AS_OF)
            if long_term:
                self.town.truth[(FindingKind.UNREGISTERED, code)] = "moved in, registered nowhere"


def build_town(seed: int, communities: int = COMMUNITIES, households: int = HOUSEHOLDS) -> Town:
    """The street of the seed by default; a smaller one (fewer communities, households under
    their 4,000 dwellings each) for quick checks."""
    if households > communities * GRIDS_PER_COMMUNITY * DWELLINGS_PER_GRID:
        raise ValueError("more households than dwellings")
    return _Builder(seed, communities, households).build()
