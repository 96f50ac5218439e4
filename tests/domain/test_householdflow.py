"""The household stream's pure pieces (issue 21): intake's hashing and repartition by person,
the raised / withdrawn transitions of findings, and their cases in the grid stage's planner."""

from datetime import UTC, date, datetime

import orjson

from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.householdflow import (
    BUCKETS,
    FindingState,
    SightingItem,
    bucket_of,
    by_person_messages,
    decode,
    finding_envelopes,
    route_household,
    sweep_messages,
    transitions,
)
from civicgrid.domain.households import Finding, FindingKind
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.routing import RawRecord
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import CaseState, DeadLetterKind
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.topics import catalogue as topics

HASHER = KeyedHasher(b"households-flow-test-key")
TAXONOMY = Taxonomy.load(None)
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
RESIDENT = {
    "person_code": "P-320102199003071234",
    "born_on": "1990-03-07",
    "registrations": [
        {
            "household_id": "HH-1",
            "place_code": "TZ-DP-1",
            "role": "head",
            "status": "registered",
            "registered_on": "2012-05-01",
        }
    ],
}
SEEN = {
    "event_id": "0b6f8a9e-2d1c-4f7e-9a51-3c2b1a0d9e8f",
    "occurred_at": "2026-12-01T19:30:00+08:00",
    "schema_version": 1,
    "person_code": "P-320102199003071234",
    "source": "home_visit",
    "place_code": "TZ-DP-2",
    "observer_id": "W-1",
}


def _record(topic: str, key: str, value: object, offset: int = 0) -> RawRecord:
    return RawRecord(topic, 0, offset, None, key.encode(), orjson.dumps(value), ())


def test_intake_hashes_people_and_repartitions_them_by_person() -> None:
    resident = route_household(
        _record(topics.RESIDENTS.name, RESIDENT["person_code"], RESIDENT), HASHER, NOW
    )  # type: ignore[arg-type]
    seen = route_household(_record(topics.PRESENCE.name, SEEN["person_code"], SEEN, 5), HASHER, NOW)  # type: ignore[arg-type]
    assert isinstance(seen, SightingItem)
    assert seen.person == resident.person == HASHER.hash("P-320102199003071234")  # type: ignore[union-attr]
    assert seen.observer == HASHER.hash("W-1")
    assert seen.day == "2026-12-01"
    assert seen.offset == 5
    messages = by_person_messages([resident, seen])  # type: ignore[list-item]
    assert len(messages) == 1  # one person: one bucket, one record
    text = b"".join(m.value for m in messages) + b"".join(m.key.encode() for m in messages)  # type: ignore[union-attr]
    for clear in (b"P-3201", b"HH-1", b"W-1"):
        assert clear not in text
    back = decode([m.value for m in messages])
    assert back.residents[0].record is not None
    assert back.residents[0].record.registrations[0].household_id == HASHER.hash("HH-1")
    assert back.sightings == [seen.row()]
    assert 0 <= bucket_of(seen.person) < BUCKETS
    assert decode([sweep_messages(2, date(2026, 12, 4))[1].value]).sweeps == ["2026-12-04"]


def test_a_bad_household_record_is_a_dead_letter_without_the_person_in_clear() -> None:
    bad = dict(SEEN, kind="emigrated")  # a home visit cannot see an emigration
    out = route_household(_record(topics.PRESENCE.name, SEEN["person_code"], bad), HASHER, NOW)  # type: ignore[arg-type]
    assert isinstance(out, GridEnvelope)
    assert out.dead_letter is not None
    assert out.dead_letter.kind is DeadLetterKind.SCHEMA
    assert "P-3201" not in out.model_dump_json()
    keyless = route_household(
        RawRecord(topics.RESIDENTS.name, 0, 1, None, None, b"{}", ()), HASHER, NOW
    )
    assert isinstance(keyless, GridEnvelope)
    assert keyless.dead_letter is not None
    assert keyless.dead_letter.kind is DeadLetterKind.BAD_KEY


def _finding(kind: FindingKind = FindingKind.LIVING_APART, grid: str | None = "G1") -> Finding:
    return Finding(
        kind,
        "registered at one place, living at another",
        "h:1",
        "TZ-DP-2",
        grid,
        date(2026, 11, 1),
        {},
    )


def test_a_finding_changes_only_between_raised_and_withdrawn() -> None:
    f = _finding()
    raised = transitions({"F1": f}, {"F1": 1}, {})
    assert [(c.raised, c.generation, c.grid_id) for c in raised] == [(True, 1, "G1")]
    # raised again by a second member (or re-reconciled): no change
    assert (
        transitions({"F1": f}, {"F1": 2}, {"F1": FindingState("living_apart", "G1", True, 1)}) == []
    )
    # nobody raises it any more: withdrawn, to the grid of the case it opened
    gone = transitions({"F1": None}, {}, {"F1": FindingState("living_apart", "G1", True, 1)})
    assert [(c.raised, c.generation, c.grid_id) for c in gone] == [(False, 2, "G1")]
    # a finding whose place the registry does not know has no grid: no case
    assert finding_envelopes(transitions({"F2": _finding(grid=None)}, {"F2": 1}, {}), NOW) == []


def _plan_findings(work: GridWork, book: CaseBook, envelopes: list[GridEnvelope], applied: dict):  # type: ignore[no-untyped-def, type-arg]
    return work.plan(envelopes, set(), book, (), applied)


def test_findings_open_join_and_withdraw_their_case_once() -> None:
    work = GridWork(Classifier.default(TAXONOMY), TAXONOMY)
    book = CaseBook()
    raise_1 = finding_envelopes(transitions({"F1": _finding()}, {"F1": 1}, {}), NOW)
    plan = _plan_findings(work, book, raise_1, {})
    (case,) = plan.cases.values()
    assert case.category == "L0103"
    assert case.code == "F1"
    assert case.departments == ("police",)
    assert case.network
    assert case.state is CaseState.DISPATCHED
    assert [m.topic for m in plan.messages].count(topics.DISPATCH_NETWORK.name) == 1
    assert plan.household_cases[0][:2] == ("F1", case.case_id)
    applied = {"F1": (case.case_id, 1)}
    # the same change again (a replay): nothing
    assert not _plan_findings(work, book, raise_1, applied).cases
    withdraw = finding_envelopes(
        transitions({"F1": None}, {}, {"F1": FindingState("living_apart", "G1", True, 1)}), NOW
    )
    plan = _plan_findings(work, book, withdraw, applied)
    assert plan.cases[case.case_id].state is CaseState.CANCELLED
    assert any(b'"withdrawn":true' in m.value for m in plan.messages)
    assert "household finding withdrawn" in plan.history[0][4]
