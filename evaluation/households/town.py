"""A simulated town for the household cross-checks (issue 21), apart from the city simulator.

One street (the seed's 泰州 police station: 14,952 households, 44,765 people) in 40 grids of
four communities. Each grid has dwellings (doorplates, some rental houses), a care home in
one grid of each community, and places nobody lives in (shops, offices, a market, a factory)
where people work and scan.

Eighteen months of observations are made as the data really come: quarterly home visits
(入户走访) by the grid's worker, who finds nobody in at some doors, leaves off members who were
out (working adults most), types sheets in days to months late (some arrive after the day of
evaluation and are not there yet), now and then enters a line twice or mistypes a place code;
then the drive's second census round (户口整顿) in the last two and a half months, which asks
after every registered member. 祥泰码 scans at the residential gate (rare for children and
the elderly) and many more at the workplace, some scanned twice; monthly utility readings
for household heads; rental registrations for tenants; death, exit and transfer records
arriving days or weeks late.

The noise the rules must withstand, written from how a street's people live rather than from
the rules: scans at workplaces (some in a dwelling: a nanny, a home workshop, now and then on
a visit sheet there); weekly visits to parents in the street; a few days with relatives;
visiting grandchildren; daughters staying a month or two at their parents' with a newborn
registered in another city (坐月子); seasonal workers away most of the year and students away
at university, back for the holidays, whose families tell the visitor "not living here";
short rehabilitation stays in a care home; tenants on a short contract who came back home;
newcomers who have not yet stayed the residence-permit period; and the occasional wrong
"absent" on a visit sheet.

Planted (`Town.truth`, which the rules never see), at about the seed's rates (319 / 44,765
living apart, 431 / 44,765 who should be registered or deregistered): people registered at
one dwelling and living at another, the elderly living in a care home, and the members of a
household registered at a shop; long-term residents registered nowhere in the city, children
never registered and babies whose birth registration is overdue at the day of evaluation;
the dead, the emigrated and those registered elsewhere still on the register (each with a
record of it or not); one person in two households; households registered at a shop or at a
place code the registry does not know (a typo in the register: its members are not living
apart, the entry is wrong).
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from civicgrid.domain.households import FindingKind, Place, Sighting
from civicgrid.schemas.enums import (
    HouseholdRole,
    PresenceKind,
    PresenceSource,
    RegistrationStatus,
)
from civicgrid.schemas.inbound import Registration, ResidentRecord

AS_OF = date(2026, 6, 30)
OBSERVED_SINCE = AS_OF - timedelta(days=540)
DRIVE_FROM, DRIVE_TO = AS_OF - timedelta(days=75), AS_OF - timedelta(days=10)
COMMUNITIES, GRIDS_PER_COMMUNITY = 4, 10
HOUSEHOLDS = 15_000
DWELLINGS_PER_GRID = 400  # a few more dwellings than households: some stand empty
WORKPLACES_PER_GRID = 12

RATE_APART = 319 / 44_765
RATE_UNREGISTERED = 0.0045
RATE_NOT_DEREGISTERED = 431 / 44_765 - RATE_UNREGISTERED
RATE_DUPLICATE = 0.0006
RATE_NOT_DWELLING_HOUSEHOLD = 0.0012
RATE_MISTYPED_HOUSEHOLD = 0.0008  # the register's place code has a typo the registry lacks
RATE_BIRTH = 0.015  # households with a baby born in the eighteen months
RATE_CARE_HOME = 0.025  # of the over-80s, living in a care home
RATE_REHAB = 0.01  # of the over-70s, a stay of weeks in a care home
RATE_SEASONAL = 0.03  # of working-age adults, working out of town from spring to winter
RATE_STUDENT = 0.4  # of 18-22-year-olds, at a university out of town
RATE_SEES_PARENTS = 0.06  # adults who visit parents in the street every week or so
RATE_SHORT_LEASE = 0.004  # a few months in a rental for a job, then back home

NO_ANSWER = 0.12  # a visit round that found nobody in: no sheet at all
MISS_WORKING, MISS_OTHER = 0.35, 0.12  # a sheet that leaves out someone who lives there
DRIVE_NO_ANSWER, DRIVE_MISS = 0.03, 0.05  # the drive goes back until it finds someone
VISIT_WRONG_ABSENT = 0.003
DUPLICATE_ENTRY = 0.03  # a visit line entered twice, a code scanned twice
MISTYPED_ENTRY = 0.01  # a visit sheet's or rental form's place code mistyped

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
    noise: dict[str, str] = field(default_factory=dict)  # clear code -> its story, to read misses

    @property
    def people(self) -> int:
        return len(self.residents.keys() | self.sightings.keys())

    def arrived(self, by: date) -> dict[str, list[Sighting]]:
        """What the stream holds on day `by`: a sheet typed in after it is not there yet."""
        return {
            code: [o.sighting for o in seen if o.published <= by]
            for code, seen in self.sightings.items()
        }


@dataclass
class _Person:
    code: str
    born_on: date
    household: str
    role: HouseholdRole
    home: str  # the dwelling they really live at
    work: str | None

    def age(self, on: date = AS_OF) -> int:
        return (on - self.born_on).days // 365


@dataclass(frozen=True)
class _Visit:
    day: date
    drive: bool
    answered: bool


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
        self.care_homes: list[str] = []
        self.town = Town({}, {}, {})
        self.visit_rounds: dict[str, list[_Visit]] = {}
        self.typing_delay: dict[str, int] = {}  # per grid: how far behind its worker types
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
                # most workers type sheets within days; some batch them; a few fall months behind
                self.typing_delay[grid] = self.rng.choices((7, 21, 60), (0.6, 0.3, 0.1))[0]
                for d in range(DWELLINGS_PER_GRID):
                    kind = "rental_house" if self.rng.random() < 0.15 else "doorplate"
                    self._place(f"{grid}-D{d:03d}", kind, grid, self.dwellings)
                for w in range(WORKPLACES_PER_GRID):
                    kind = self.rng.choice(("shop", "office", "market", "factory"))
                    self._place(f"{grid}-W{w:02d}", kind, grid, self.workplaces)
                if g == 0:  # a care home has a doorplate like any dwelling
                    self._place(f"{grid}-C00", "doorplate", grid, self.care_homes)

    def _place(self, code: str, kind: str, grid: str, into: list[str]) -> None:
        self.places[code] = Place(code, kind, grid)
        into.append(code)

    def _mistype(self, code: str) -> str:
        """A typo: a digit swapped for a letter that looks like it, or two digits transposed
        (which may land on another real doorplate)."""
        rng = self.rng
        if rng.random() < 0.6:
            i = rng.choice([i for i, ch in enumerate(code) if ch in "0125"])
            return code[:i] + {"0": "O", "1": "l", "2": "Z", "5": "S"}[code[i]] + code[i + 1 :]
        tail = code[-3:]
        return code[:-3] + tail[0] + tail[2] + tail[1]

    # --- observation helpers ------------------------------------------------------------
    def _day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange(max(1, _days(start, end))))

    def _publish_delay(self, source: PresenceSource, place: str | None) -> int:
        rng = self.rng
        if source is PresenceSource.HOME_VISIT and place is not None:
            grid = self.places[place].grid_id if place in self.places else None
            typing = self.typing_delay.get(grid or "", 21)
            return rng.randrange(typing) + (rng.randrange(30, 120) if rng.random() < 0.03 else 0)
        if source in (PresenceSource.DEATH_RECORD, PresenceSource.TRANSFER_NOTICE):
            return rng.randrange(3, 30)
        if source in (PresenceSource.EXIT_RECORD, PresenceSource.RENTAL_REGISTRATION):
            return rng.randrange(1, 20)
        return 0

    def _see(
        self,
        person: str,
        source: PresenceSource,
        place: str | None,
        day: date,
        kind: PresenceKind = PresenceKind.PRESENT,
        born_on: date | None = None,
    ) -> None:
        rng = self.rng
        typed = source in (PresenceSource.HOME_VISIT, PresenceSource.RENTAL_REGISTRATION)
        code = place
        if typed and place is not None and rng.random() < MISTYPED_ENTRY:
            code = self._mistype(place)
        seen = self.town.sightings[person]
        published = day + timedelta(days=self._publish_delay(source, place))
        seen.append(Observed(Sighting(source, kind, code, day, born_on), published))
        twice = source in (PresenceSource.HOME_VISIT, PresenceSource.VENUE_SCAN)
        if twice and rng.random() < DUPLICATE_ENTRY:
            again = published + timedelta(days=rng.randrange(0, 10))
            seen.append(Observed(Sighting(source, kind, code, day, born_on), again))

    def _visits(self, place: str) -> list[_Visit]:
        """The visit rounds of a dwelling, the same for everyone living there: quarterly by
        the grid's worker, then once in the drive; a round that found nobody in has no sheet."""
        if place not in self.visit_rounds:
            rng = self.rng
            first = OBSERVED_SINCE + timedelta(days=rng.randrange(90))
            rounds = [
                _Visit(day, False, rng.random() > NO_ANSWER)
                for q in range(6)
                if (day := first + timedelta(days=90 * q + rng.randrange(-10, 10))) < DRIVE_FROM
            ]
            drive = self._day(DRIVE_FROM, DRIVE_TO)
            rounds.append(_Visit(drive, True, rng.random() > DRIVE_NO_ANSWER))
            self.visit_rounds[place] = rounds
        return self.visit_rounds[place]

    def _answered(self, place: str, start: date, end: date) -> list[_Visit]:
        return [v for v in self._visits(place) if v.answered and start <= v.day < end]

    def _live(
        self,
        p: str,
        home: str,
        start: date,
        end: date,
        *,
        scans: float,
        born: date | None = None,
        miss: float = MISS_OTHER,
    ) -> None:
        """Someone living at `home` from `start` to `end`: visits, gate scans."""
        for visit in self._answered(home, start, end):
            if self.rng.random() < VISIT_WRONG_ABSENT:
                self._see(p, PresenceSource.HOME_VISIT, home, visit.day, PresenceKind.ABSENT)
            elif self.rng.random() > (DRIVE_MISS if visit.drive else miss):
                self._see(p, PresenceSource.HOME_VISIT, home, visit.day, born_on=born)
        for _ in range(self._poisson(scans * _days(start, end) / 540)):
            self._see(p, PresenceSource.VENUE_SCAN, home, self._day(start, end))

    def _away(self, p: str, home: str, start: date, end: date, *, says_absent: float) -> None:
        """Visits to `home` while the person is not there: the household may say so."""
        for visit in self._answered(home, start, end):
            if self.rng.random() < (max(says_absent, 0.85) if visit.drive else says_absent):
                self._see(p, PresenceSource.HOME_VISIT, home, visit.day, PresenceKind.ABSENT)

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
        if self.places[work].kind in ("doorplate", "rental_house"):
            # a nanny or a home workshop's hand: now and then on the sheet of that home
            for visit in self._answered(work, start, end):
                if self.rng.random() < 0.05:
                    self._see(p, PresenceSource.HOME_VISIT, work, visit.day)

    def _bills(self, p: str, home: str, start: date, end: date) -> None:
        for month in range(18):
            day = OBSERVED_SINCE + timedelta(days=30 * month + 15)
            if start <= day < end:
                self._see(p, PresenceSource.UTILITY_ACCOUNT, home, day)

    # --- the people ---------------------------------------------------------------------
    def _household(self, household: str, home: str) -> None:
        rng = self.rng
        self.town.grid_of_household[household] = self.places[home].grid_id
        registered_at = home
        size = rng.choices((1, 2, 3, 4, 5), (0.12, 0.25, 0.3, 0.2, 0.13))[0]
        roll = rng.random()
        members = self._members(household, home, size)
        if roll < RATE_NOT_DWELLING_HOUSEHOLD:
            registered_at = rng.choice(self.workplaces)  # a household on a shop's doorplate
            self.town.truth[(FindingKind.NOT_A_DWELLING, household)] = "registered at a shop"
            for m in members:  # who live at home: registered at one place, living at another
                self.town.truth[(FindingKind.LIVING_APART, m.code)] = (
                    "registered at a shop, living at home"
                )
        elif roll < RATE_NOT_DWELLING_HOUSEHOLD + RATE_MISTYPED_HOUSEHOLD:
            while (typo := self._mistype(home)) in self.places:
                pass
            registered_at = typo  # the register's entry is wrong; they live where they should
            for m in members:
                self.town.noise[m.code] = "register code mistyped"
            self.town.truth[(FindingKind.NOT_A_DWELLING, household)] = "register code mistyped"
        utility = rng.random() < 0.6
        for m in members:
            self._person(m, registered_at, utility and m.role is HouseholdRole.HEAD)
        young = [m for m in members if 22 <= m.age() <= 40]
        if young and rng.random() < RATE_BIRTH * 3:
            self._baby(household, home, registered_at)
        if rng.random() < 0.025 * size:  # a grandchild visiting for the summer
            self._visitor(home, kind="grandchild")
        if rng.random() < 0.01:  # a relative from out of town, a few days
            self._visitor(home, kind="relative")
        if any(m.age() >= 50 for m in members) and rng.random() < 0.01:
            self._visitor(home, kind="newborn")  # a daughter back with her baby (坐月子)

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
        age = person.age()
        if age < 12 or age >= 75:
            return self.rng.choice((0.0, 0.0, 1.0, 3.0))
        return self.rng.uniform(2.0, 20.0)

    def _miss(self, person: _Person) -> float:
        return MISS_WORKING if person.work is not None else MISS_OTHER

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
        if roll < RATE_APART:
            self._apart(m)
        elif roll < RATE_APART + RATE_NOT_DEREGISTERED:
            self._gone(m)
        elif roll < RATE_APART + RATE_NOT_DEREGISTERED + RATE_UNREGISTERED * 0.25:
            # born here and never registered: a child of the household not on the register
            if m.age() > 12:
                m.born_on = AS_OF - timedelta(days=rng.randint(60, 365 * 10))
            self._live(m.code, m.home, OBSERVED_SINCE, AS_OF, scans=0.5, born=m.born_on)
            self.town.truth[(FindingKind.UNREGISTERED, m.code)] = "child never registered"
            return
        elif m.age() >= 80 and rng.random() < RATE_CARE_HOME:
            self._care_home(m)
        else:
            self._ordinary(m, utility)
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
        self.town.residents[m.code] = ResidentRecord(
            person_code=m.code, born_on=m.born_on, registrations=tuple(entries)
        )

    def _ordinary(self, m: _Person, utility: bool) -> None:
        """Someone living at their registered home, with the comings and goings of a life."""
        rng = self.rng
        age = m.age()
        scans = self._scans(m)
        noise = self.town.noise
        if m.work is not None and rng.random() < RATE_SEASONAL:
            noise[m.code] = "seasonal worker"
            self._seasonal(m, scans)
        elif 18 <= age <= 22 and rng.random() < RATE_STUDENT:
            noise[m.code] = "student away"
            self._seasonal(m, scans, student=True)
        else:
            if m.work is not None and self.places[m.work].kind in ("doorplate", "rental_house"):
                noise[m.code] = "works in a home"

            self._live(m.code, m.home, OBSERVED_SINCE, AS_OF, scans=scans, miss=self._miss(m))
            if m.work is not None:
                self._work(m.code, m.work, OBSERVED_SINCE, AS_OF)
        if utility:
            self._bills(m.code, m.home, OBSERVED_SINCE, AS_OF)
        if rng.random() < 0.04:  # a few days with relatives in the street
            stay = rng.choice(self.dwellings)
            start = self._day(OBSERVED_SINCE, AS_OF)
            for d in range(rng.randint(1, 4)):
                if rng.random() < 0.6:
                    self._see(m.code, PresenceSource.VENUE_SCAN, stay, start + timedelta(d))
        if 30 <= age < 70 and rng.random() < RATE_SEES_PARENTS:
            noise[m.code] = "sees parents weekly"
            parents = rng.choice(self.dwellings)  # supper at the parents' every week or so
            for _ in range(self._poisson(rng.uniform(10, 40))):
                self._see(
                    m.code, PresenceSource.VENUE_SCAN, parents, self._day(OBSERVED_SINCE, AS_OF)
                )
        if age >= 70 and rng.random() < RATE_REHAB:
            noise[m.code] = "rehab stay"
            start = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=60))
            end = start + timedelta(days=rng.randint(14, 60))
            self._live(m.code, rng.choice(self.care_homes), start, end, scans=0.0)
            self._away(m.code, m.home, start, end, says_absent=0.2)
        if rng.random() < RATE_SHORT_LEASE and m.work is not None:
            start = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=200))
            end = start + timedelta(days=rng.randint(60, 150))
            flat = rng.choice(self.dwellings)
            noise[m.code] = "short lease"
            self._see(m.code, PresenceSource.RENTAL_REGISTRATION, flat, start)
            self._live(m.code, flat, start, end, scans=self._scans(m), miss=self._miss(m))
            self._away(m.code, m.home, start, end, says_absent=0.3)

    def _seasonal(self, m: _Person, scans: float, *, student: bool = False) -> None:
        """Away from the city most of the year, home for the holidays: alive and registered
        where they should be, though the family tells the visitor they do not live here."""
        home_weeks = (
            [(1, 10, 2, 25), (7, 5, 8, 30)] if student else [(1, 15, 2, 28)]
        )  # (month, day) to (month, day) at home, each year
        at_home = []
        for year in (2025, 2026):
            for m1, d1, m2, d2 in home_weeks:
                start, end = date(year, m1, d1), date(year, m2, d2)
                if start < AS_OF and end > OBSERVED_SINCE:
                    at_home.append((max(start, OBSERVED_SINCE), min(end, AS_OF)))
        cursor = OBSERVED_SINCE
        for start, end in at_home:
            self._away(m.code, m.home, cursor, start, says_absent=0.3)
            self._live(m.code, m.home, start, end, scans=scans * 4, miss=MISS_OTHER)
            cursor = end
        self._away(m.code, m.home, cursor, AS_OF, says_absent=0.3)

    def _apart(self, m: _Person) -> None:
        """Registered at home, living at another dwelling of the street."""
        rng = self.rng
        elsewhere = rng.choice(self.dwellings)
        moved = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=120))
        scans = self._scans(m)
        self._live(m.code, m.home, OBSERVED_SINCE, moved, scans=scans, miss=self._miss(m))
        self._live(m.code, elsewhere, moved, AS_OF, scans=scans, miss=self._miss(m))
        if self.places[elsewhere].kind == "rental_house" or rng.random() < 0.3:
            self._see(m.code, PresenceSource.RENTAL_REGISTRATION, elsewhere, moved)
        if m.work is not None:
            self._work(m.code, m.work, OBSERVED_SINCE, AS_OF)
        self._away(m.code, m.home, moved, AS_OF, says_absent=0.4)
        self.town.truth[(FindingKind.LIVING_APART, m.code)] = "moved to another dwelling"

    def _care_home(self, m: _Person) -> None:
        """An old person living in a care home of the street, still registered at home: seen
        by the visits to the home's roster, hardly ever scanning."""
        rng = self.rng
        moved = self._day(OBSERVED_SINCE - timedelta(days=700), AS_OF - timedelta(days=120))
        if moved > OBSERVED_SINCE:
            self._live(m.code, m.home, OBSERVED_SINCE, moved, scans=self._scans(m))
        home = rng.choice(self.care_homes)
        self._live(m.code, home, max(moved, OBSERVED_SINCE), AS_OF, scans=rng.choice((0.0, 1.0)))
        self._away(m.code, m.home, max(moved, OBSERVED_SINCE), AS_OF, says_absent=0.3)
        self.town.truth[(FindingKind.LIVING_APART, m.code)] = "in a care home"

    def _gone(self, m: _Person) -> None:
        """Dead, emigrated or registered elsewhere, and still on the register."""
        rng = self.rng
        left = self._day(OBSERVED_SINCE - timedelta(days=200), AS_OF - timedelta(days=60))
        how = rng.choices(("died", "emigrated", "elsewhere"), (0.6, 0.2, 0.2))[0]
        if left > OBSERVED_SINCE:
            self._live(
                m.code, m.home, OBSERVED_SINCE, left, scans=self._scans(m), miss=self._miss(m)
            )
        record = {
            "died": (PresenceSource.DEATH_RECORD, PresenceKind.DIED, 0.7),
            "emigrated": (PresenceSource.EXIT_RECORD, PresenceKind.EMIGRATED, 0.6),
            "elsewhere": (PresenceSource.TRANSFER_NOTICE, PresenceKind.REGISTERED_ELSEWHERE, 0.8),
        }[how]
        if rng.random() < record[2]:
            self._see(m.code, record[0], None, left + timedelta(days=rng.randrange(15)), record[1])
        for visit in self._answered(m.home, left + timedelta(days=1), AS_OF):
            if rng.random() < (0.85 if visit.drive else 0.5):
                said = (
                    PresenceKind.DIED
                    if how == "died" and rng.random() < 0.5
                    else PresenceKind.ABSENT
                )
                self._see(m.code, PresenceSource.HOME_VISIT, m.home, visit.day, said)
        has_record = any(o.sighting.source is record[0] for o in self.town.sightings[m.code])
        self.town.truth[(FindingKind.NOT_DEREGISTERED, m.code)] = (
            f"{how}, {'with' if has_record else 'no'} record"
        )

    def _baby(self, household: str, home: str, registered_at: str) -> None:
        """A baby born in the eighteen months: registered within weeks mostly, months late
        sometimes; overdue (over a month old, not registered) on the day of evaluation is a
        finding."""
        rng = self.rng
        self.serial += 1
        code = f"B{self.serial:06d}"
        born = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=5))
        delay = rng.choices((rng.randint(7, 30), rng.randint(31, 150), 10_000), (0.7, 0.25, 0.05))[
            0
        ]
        registered_on = born + timedelta(days=delay)
        self._live(code, home, born, AS_OF, scans=0.0, born=born)
        self.town.noise[code] = "baby"
        if registered_on <= AS_OF:
            entry = Registration(
                household_id=household,
                place_code=registered_at,
                role=HouseholdRole.CHILD,
                status=RegistrationStatus.REGISTERED,
                registered_on=registered_on,
            )
            self.town.residents[code] = ResidentRecord(
                person_code=code, born_on=born, registrations=(entry,)
            )
        elif (AS_OF - born).days > 30:
            self.town.truth[(FindingKind.UNREGISTERED, code)] = "birth registration overdue"

    def _visitor(self, home: str, *, kind: str) -> None:
        """Someone staying a while, registered nowhere here: not a finding."""
        rng = self.rng
        self.serial += 1
        code = f"V{self.serial:06d}"
        self.town.noise[code] = f"visitor: {kind}"
        start = self._day(OBSERVED_SINCE, AS_OF - timedelta(days=30))
        if kind == "grandchild":
            born = AS_OF - timedelta(days=rng.randint(365 * 3, 365 * 12))
            stay, scans = rng.randint(5, 40), 30.0
        elif kind == "newborn":  # registered in the father's city
            born = start - timedelta(days=rng.randint(0, 20))
            stay, scans = rng.randint(30, 75), 0.0
        else:
            born = AS_OF - timedelta(days=365 * 50)
            stay, scans = rng.randint(1, 6), 30.0
        end = start + timedelta(days=stay)
        self._live(code, home, start, end, scans=scans, born=born)

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
            works = rng.random() < 0.7
            self._live(
                code,
                home,
                arrived,
                AS_OF,
                scans=rng.uniform(4.0, 20.0),
                miss=MISS_WORKING if works else MISS_OTHER,
            )
            if self.places[home].kind == "rental_house" and rng.random() < 0.7:
                self._see(code, PresenceSource.RENTAL_REGISTRATION, home, arrived)
            if works:
                self._work(code, rng.choice(self.workplaces), arrived, AS_OF)
            if not long_term:
                self.town.noise[code] = "newcomer, not yet the permit period"
            if long_term:
                self.town.truth[(FindingKind.UNREGISTERED, code)] = "moved in, registered nowhere"


def build_town(seed: int, communities: int = COMMUNITIES, households: int = HOUSEHOLDS) -> Town:
    """The street of the seed by default; a smaller one (fewer communities, households under
    their 4,000 dwellings each) for quick checks."""
    if households > communities * GRIDS_PER_COMMUNITY * DWELLINGS_PER_GRID:
        raise ValueError("more households than dwellings")
    return _Builder(seed, communities, households).build()
