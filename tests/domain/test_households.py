"""The household cross-check rules (issue 21): each kind, its thresholds, and the noise
(workplace scans, short stays, visits that miss people, skewed clocks) that must not fire."""

from datetime import date, timedelta

import pytest

from civicgrid.domain.households import (
    Finding,
    FindingKind,
    HouseholdThresholds,
    Place,
    Sighting,
    reconcile,
    reconcile_person,
    thresholds_for,
)
from civicgrid.schemas.enums import (
    HouseholdRole,
    PresenceKind,
    PresenceSource,
    RegistrationStatus,
    StatusReason,
)
from civicgrid.schemas.inbound import Registration, ResidentRecord

T = HouseholdThresholds()
AS_OF = date(2026, 6, 30)
PLACES = {
    "A": Place("A", "doorplate", "G1"),
    "B": Place("B", "rental_house", "G2"),
    "C": Place("C", "doorplate", "G2"),
    "SHOP": Place("SHOP", "shop", "G3"),
}
P = "h:" + "a" * 32
VISIT, SCAN, UTIL = (
    PresenceSource.HOME_VISIT,
    PresenceSource.VENUE_SCAN,
    PresenceSource.UTILITY_ACCOUNT,
)


def entry(place: str = "A", household: str = "h:hh1", **changes: object) -> Registration:
    values: dict[str, object] = {
        "household_id": household,
        "place_code": place,
        "role": HouseholdRole.HEAD,
        "status": RegistrationStatus.REGISTERED,
        "registered_on": date(2010, 1, 1),
    }
    return Registration.model_validate(values | changes, strict=False)


def resident(*entries: Registration, born_on: date | None = date(1980, 1, 1)) -> ResidentRecord:
    return ResidentRecord(person_code=P, born_on=born_on, registrations=entries)


def seen(
    place: str | None,
    days_ago: int,
    source: PresenceSource = SCAN,
    kind: PresenceKind = PresenceKind.PRESENT,
    born_on: date | None = None,
) -> Sighting:
    return Sighting(source, kind, place, AS_OF - timedelta(days=days_ago), born_on)


def kinds(found: list[Finding]) -> list[FindingKind]:
    return [f.kind for f in found]


def run(
    r: ResidentRecord | None,
    sightings: list[Sighting],
    visits: dict[str, frozenset[date]] | None = None,
    observed_since: date | None = None,
) -> list[Finding]:
    return reconcile_person(P, r, sightings, PLACES, AS_OF, T, visits, observed_since)


def test_living_apart_weighs_each_source_and_names_the_evidence() -> None:
    lives_at_b = [seen("B", d, VISIT if d == 40 else SCAN) for d in (40, 30, 20, 10)]
    [finding] = run(resident(entry()), lives_at_b)
    assert finding.kind is FindingKind.LIVING_APART
    assert (finding.place_code, finding.grid_id) == ("B", "G2")
    # a census line (3 points) and three days of scans (1 each): 6 on the third scan's day
    assert finding.decisive_on == AS_OF - timedelta(days=10)
    assert finding.thresholds["apart_min_points"] == 6
    assert finding.thresholds["visit_points"] == 3
    assert {(e.source, e.days) for e in finding.evidence} == {(VISIT, 1), (SCAN, 3)}
    assert finding.households == ("h:hh1…",)
    assert P not in finding.masked_subject


def test_living_apart_from_the_census_alone_children_and_the_elderly_who_never_scan() -> None:
    [two_sheets] = run(resident(entry()), [seen("B", d, VISIT) for d in (120, 30)])
    assert two_sheets.decisive_on == AS_OF - timedelta(days=30)
    # one sheet at B and one at home saying "not living here": two households say so
    one_and_absent = [seen("B", 60, VISIT), seen("A", 20, VISIT, PresenceKind.ABSENT)]
    [finding] = run(resident(entry()), one_and_absent)
    assert finding.decisive_on == AS_OF - timedelta(days=20)
    assert run(resident(entry()), one_and_absent[:1]) == []  # one line is not enough


@pytest.mark.parametrize(
    "sightings",
    [
        [seen("B", d) for d in range(10, 200, 7)],  # scans only: a parent's flat, every week
        [seen("B", 40, VISIT), seen("B", 40)],  # one day: a short stay
        [seen("SHOP", d, s) for d in (40, 30, 20) for s in (VISIT, SCAN)],  # the workplace
        [seen("B", d, VISIT if d == 40 else SCAN) for d in (400, 300, 200)],  # long ago
        # a nanny: scans at B most days and now and then on its sheet, on home's sheets too
        [seen("B", d) for d in range(5, 200, 5)]
        + [seen("B", 100, VISIT)]
        + [seen("A", d, VISIT) for d in (190, 100, 10)],
        # a short lease at B, then back home on the census
        [seen("B", d, VISIT if d == 150 else SCAN) for d in (150, 140, 130, 120)]
        + [seen("A", d, VISIT) for d in (60, 20)]
        + [seen("A", d) for d in (50, 30)],
        [seen("B", -d, VISIT) for d in (4, 3, 2)],  # dated in the future
    ],
)
def test_living_apart_noise_does_not_fire(sightings: list[Sighting]) -> None:
    assert run(resident(entry()), sightings) == []


def test_a_mistyped_code_is_still_home() -> None:
    places = PLACES | {
        "TZ-07-D012": Place("TZ-07-D012", "doorplate", "G1"),
        "TZ-07-D021": Place("TZ-07-D021", "doorplate", "G1"),
    }
    home = resident(entry("TZ-07-D012"))
    # a sheet typed with two digits swapped lands on the neighbouring doorplate
    typo = [seen("TZ-07-D021", d, VISIT) for d in (120, 30)]
    assert reconcile_person(P, home, typo, places, AS_OF, T) == []
    # the register's entry mistyped (O for 0): a data-quality finding, not a move
    wrong = resident(entry("TZ-O7-D012"))
    found = reconcile_person(
        P, wrong, [seen("TZ-07-D012", d, VISIT) for d in (120, 30)], places, AS_OF, T
    )
    assert kinds(found) == [FindingKind.NOT_A_DWELLING]
    assert (found[0].place_code, found[0].grid_id) == ("TZ-07-D012", "G1")  # routed to its grid
    assert "one typing slip from TZ-07-D012" in found[0].rule


def test_unregistered_after_the_permit_period_but_not_before() -> None:
    stays = [seen("C", d, VISIT if d == 200 else UTIL) for d in (200, 120, 60, 10)]
    [finding] = run(None, stays)
    assert finding.kind is FindingKind.UNREGISTERED
    assert finding.place_code == "C"
    assert finding.decisive_on == AS_OF - timedelta(days=20)  # 180 days after first seen
    assert run(None, stays[1:]) == []  # first seen 120 days ago: not yet the permit period
    gone = [seen("C", d, UTIL) for d in (400, 300, 200)]
    assert run(None, gone) == []  # stayed long enough, but not seen for 200 days
    moved_out = entry(
        status=RegistrationStatus.MOVED_OUT,
        status_reason=StatusReason.MOVED,
        status_on="2020-01-01",
    )
    assert kinds(run(resident(moved_out), stays)) == [FindingKind.UNREGISTERED]


def test_a_child_with_no_registration_but_not_a_newborn_or_a_visitor() -> None:
    born = AS_OF - timedelta(days=400)
    child = [seen("C", d, VISIT, born_on=born) for d in (50, 5)]
    [finding] = run(None, child)
    assert finding.rule == "a child living in the city, registered nowhere"
    newborn = [seen("C", d, VISIT, born_on=AS_OF - timedelta(days=20)) for d in (19, 2)]
    assert run(None, newborn) == []
    visiting = [seen("C", d, VISIT, born_on=born) for d in (5, 3)]
    assert run(None, visiting) == []
    adult = [seen("C", d, VISIT, born_on=date(1990, 1, 1)) for d in (50, 5)]
    assert run(None, adult) == []
    unborn = [seen("C", d, VISIT, born_on=AS_OF + timedelta(days=9)) for d in (50, 5)]
    assert run(None, unborn) == []


def test_not_deregistered_on_evidence_of_death_emigration_or_elsewhere() -> None:
    for source, kind in [
        (PresenceSource.DEATH_RECORD, PresenceKind.DIED),
        (PresenceSource.EXIT_RECORD, PresenceKind.EMIGRATED),
        (PresenceSource.TRANSFER_NOTICE, PresenceKind.REGISTERED_ELSEWHERE),
    ]:
        [finding] = run(resident(entry()), [seen(None, 90, source, kind)])
        assert finding.kind is FindingKind.NOT_DEREGISTERED
        assert finding.place_code == "A"
        assert finding.decisive_on == AS_OF - timedelta(days=90)
    # a death before the current registration is someone else's old record, not this one
    assert (
        run(resident(entry()), [seen(None, 9000, PresenceSource.DEATH_RECORD, PresenceKind.DIED)])
        == []
    )


def test_not_deregistered_by_silence_needs_visits_that_missed_the_person() -> None:
    r = resident(entry())
    visits = {"A": frozenset(AS_OF - timedelta(days=d) for d in (400, 300, 200, 100))}
    [finding] = run(r, [], visits=visits, observed_since=date(2024, 1, 1))
    assert finding.thresholds == {"silent_days": 365, "silent_min_unanswered_visits": 4}
    assert finding.decisive_on == AS_OF - timedelta(days=100)
    three = {"A": frozenset(sorted(visits["A"])[1:])}
    assert run(r, [], visits=three, observed_since=date(2024, 1, 1)) == []
    # the data only starts 100 days ago: silence proves nothing yet
    assert run(r, [], visits=visits, observed_since=AS_OF - timedelta(days=100)) == []
    # seen once at a venue: alive
    assert run(r, [seen("SHOP", 30)], visits=visits, observed_since=date(2024, 1, 1)) == []
    absent = [seen("A", d, VISIT, PresenceKind.ABSENT) for d in (250, 150)]
    [finding] = run(r, absent, observed_since=date(2024, 1, 1))
    assert "2 home visits say not living here" in finding.rule
    assert finding.decisive_on == AS_OF - timedelta(days=150)
    assert run(r, absent[1:], observed_since=date(2024, 1, 1)) == []  # one sheet may be a slip
    # one sheet and three visits that left the person off weigh as much as two sheets
    left_off = {"A": frozenset(AS_OF - timedelta(days=d) for d in (240, 200, 170, 150))}
    [finding] = run(r, absent[1:], visits=left_off, observed_since=date(2024, 1, 1))
    assert "1 home visits say not living here, 3 left them off" in finding.rule


def test_someone_who_comes_and_goes_is_not_gone_on_sheets_alone() -> None:
    """A student or a seasonal worker: away for months, home for the holidays, away again;
    the family tells the visitor they do not live here."""
    r = resident(entry())
    visits = {"A": frozenset(AS_OF - timedelta(days=d) for d in (470, 400, 320, 230, 100, 40))}
    holidays = [seen("A", d) for d in (500, 490, 150, 140)]
    sheets = [seen("A", d, VISIT, PresenceKind.ABSENT) for d in (400, 100, 40)]
    assert run(r, holidays + sheets, visits=visits, observed_since=date(2024, 1, 1)) == []
    # the same sheets with no earlier absence (the data begin 200 days ago): gone
    recent = AS_OF - timedelta(days=200)
    [gone] = run(r, holidays[2:] + sheets[1:], visits=visits, observed_since=recent)
    assert gone.kind is FindingKind.NOT_DEREGISTERED


def test_data_quality_two_households_and_a_place_nobody_lives_in() -> None:
    two = resident(entry("A", "h:hh1"), entry("C", "h:hh2", registered_on="2020-02-02"))
    assert kinds(run(two, [seen("A", 10, VISIT)])) == [FindingKind.DUPLICATE_REGISTRATION]
    shop = run(resident(entry("SHOP", "h:hh3")), [seen("SHOP", 10, VISIT)])
    assert kinds(shop) == [FindingKind.NOT_A_DWELLING]
    assert shop[0].subject == "h:hh3"
    assert shop[0].rule == "registered place is a shop, not a dwelling"
    ghost = run(resident(entry("NOWHERE", "h:hh4")), [seen("A", 10, VISIT)])
    assert [f.rule for f in ghost] == ["registered place unknown to the registry"]


def test_reconcile_raises_a_household_finding_once_and_handles_nobody() -> None:
    members = {
        f"h:p{i}": ResidentRecord(person_code=f"h:p{i}", registrations=(entry("SHOP", "h:hh9"),))
        for i in range(3)
    }
    alive = {code: [seen("A", 5, VISIT)] for code in members}
    found = reconcile(members, alive, PLACES, AS_OF, T)
    assert [(f.kind, f.subject) for f in found] == [(FindingKind.NOT_A_DWELLING, "h:hh9")]
    assert reconcile({}, {}, {}, AS_OF, T) == []
    assert run(None, []) == []
    assert (
        run(
            ResidentRecord(person_code=P),
            [seen(None, 3, PresenceSource.DEATH_RECORD, PresenceKind.DIED)],
        )
        == []
    )


def test_thresholds_per_city() -> None:
    assert thresholds_for("泰州市") == T
    assert thresholds_for("nowhere") == HouseholdThresholds()
    strict = HouseholdThresholds(apart_min_days=4)
    lives_at_b = [seen("B", d, VISIT if d == 40 else SCAN) for d in (40, 30, 20)]
    assert reconcile_person(P, resident(entry()), lives_at_b, PLACES, AS_OF, strict) == []
