"""Authorisation of case updates against the actor roster (issue 16 item 13, SPEC §10): the
pure rules, from a raw record through the intake's routing to the grid stage's plan."""

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from civicgrid.domain.authority import refusal
from civicgrid.domain.casebook import CaseBook
from civicgrid.domain.cityview import CityView
from civicgrid.domain.classifier import Classifier
from civicgrid.domain.gridwork import GridWork
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.routing import RawRecord, route
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import CaseState, DeadLetterKind
from civicgrid.schemas.inbound import ActorRecord, GridRecord
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.topics import catalogue as topics
from tests.domain.test_casebook import MONDAY, facts
from tools.city.generate import generate_city
from tools.city.roster import actor_records

HASHER = KeyedHasher(b"test-key-0123456789abcdef")
CASE = "G1~1"


def _grid(grid_id: str, community: str, street: str = "城东街道") -> GridRecord:
    value = {
        "grid_id": grid_id,
        "name": f"{grid_id}网格",
        "community": community,
        "street": street,
        "district": "海陵区",
        "city": "泰州市",
    }
    return GridRecord.model_validate_json(orjson.dumps(value))


ROSTER: list[dict[str, Any]] = [
    {"actor_id": "W-1", "kind": "grid_worker", "grids": ["G1"]},
    {"actor_id": "W-2", "kind": "grid_worker", "grids": ["G2"]},
    {"actor_id": "D-san", "kind": "department", "departments": ["sanitation"]},
    {"actor_id": "D-pol", "kind": "department", "departments": ["police"]},
    {
        "actor_id": "D-san-west",
        "kind": "department",
        "departments": ["sanitation"],
        "district": "姜堰区",
    },
    {
        "actor_id": "OP-east",
        "kind": "operator",
        "rung": "community",
        "community": "东社区",
        "street": "城东街道",
        "district": "海陵区",
    },
    {
        "actor_id": "OP-west",
        "kind": "operator",
        "rung": "community",
        "community": "西社区",
        "street": "城东街道",
        "district": "海陵区",
    },
    {
        "actor_id": "OP-street",
        "kind": "operator",
        "rung": "street",
        "street": "城东街道",
        "district": "海陵区",
    },
    {"actor_id": "OP-city", "kind": "operator", "rung": "city"},
]


@pytest.fixture
def city() -> CityView:
    view = CityView()
    view.apply_grid("G1", _grid("G1", "东社区"))
    view.apply_grid("G2", _grid("G2", "西社区"))
    for actor in ROSTER:
        view.apply_actor(actor["actor_id"], ActorRecord.model_validate_json(orjson.dumps(actor)))
    return view


def _book() -> CaseBook:
    book = CaseBook()
    # a resident's report of a litter bin (sanitation) opens G1~1, reported by R-1
    opening = replace(facts(), event_id=str(uuid.uuid4()), reporter_hash=HASHER.hash("R-1"))
    book.report(opening, MONDAY)
    return book


def _envelope(city: CityView, actor_id: str, kind: str, action: str) -> GridEnvelope:
    value = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": (MONDAY + timedelta(minutes=5)).isoformat(),
        "schema_version": 1,
        "case_id": CASE,
        "actor_id": actor_id,
        "actor_kind": kind,
        "action": action,
    }
    record = RawRecord(topics.CASE_UPDATES.name, 0, 1, None, CASE.encode(), orjson.dumps(value), ())
    return route(record, city, HASHER, MONDAY + timedelta(minutes=5))


def why(city: CityView, actor_id: str, kind: str, action: str) -> str | None:
    envelope = _envelope(city, actor_id, kind, action)
    assert envelope.case_update is not None
    case = _book().get(CASE)
    assert case is not None
    return refusal(envelope.case_update, envelope.enrichment, case)


@pytest.mark.parametrize(
    ("actor_id", "kind", "action"),
    [
        ("W-1", "grid_worker", "self_handle"),  # the grid's own worker
        ("D-san", "department", "accept"),  # the case's department
        ("OP-east", "operator", "cancel"),  # the community's operator
        ("OP-street", "operator", "cancel"),  # the street above it
        ("OP-city", "operator", "extend"),
        ("R-1", "resident", "evaluate"),  # the resident who reported it
    ],
)
def test_actors_in_scope_are_authorised(
    city: CityView, actor_id: str, kind: str, action: str
) -> None:
    assert why(city, actor_id, kind, action) is None


@pytest.mark.parametrize(
    ("actor_id", "kind", "action", "reason"),
    [
        ("W-2", "grid_worker", "self_handle", "outside the scope"),  # another grid's worker
        ("W-2", "grid_worker", "check_pass", "outside the scope"),
        ("W-9", "grid_worker", "self_handle", "not on the roster"),
        ("D-pol", "department", "accept", "not dispatched to department"),
        ("D-san-west", "department", "accept", "outside the scope"),  # another district's
        ("OP-west", "operator", "cancel", "outside the scope"),  # another community's
        ("W-1", "operator", "reopen", "on the roster as a grid_worker, not a operator"),
        ("R-1", "operator", "reopen", "not on the roster"),  # a resident claiming a role
        ("OP-city", "department", "accept", "on the roster as a operator"),
        ("R-1", "resident", "reopen", "a resident may not reopen"),
        ("R-1", "resident", "cancel", "a resident may not cancel"),
        ("W-1", "grid_worker", "cancel", "a grid_worker may not cancel"),
        ("D-san", "department", "reopen", "a department may not reopen"),
        ("OP-city", "operator", "evaluate", "a operator may not evaluate"),
        ("R-2", "resident", "evaluate", "only a case they reported"),
    ],
)
def test_actors_out_of_scope_are_refused(
    city: CityView, actor_id: str, kind: str, action: str, reason: str
) -> None:
    refused = why(city, actor_id, kind, action)
    assert refused is not None
    assert reason in refused


def test_a_tombstone_removes_the_actor(city: CityView) -> None:
    city.apply_actor("W-1", None)
    refused = why(city, "W-1", "grid_worker", "self_handle")
    assert refused is not None
    assert "not on the roster" in refused


def test_an_operator_of_a_grid_the_city_does_not_know_is_out_of_scope() -> None:
    # the case's grid is not (or no longer) in civic.grids.v1: a rung's names cannot match it
    view = CityView()
    actor = ROSTER[5]
    view.apply_actor(actor["actor_id"], ActorRecord.model_validate_json(orjson.dumps(actor)))
    assert why(view, "OP-east", "operator", "cancel") is not None


def test_the_plan_dead_letters_audits_and_counts_a_refusal(city: CityView) -> None:
    work = GridWork(Classifier.default(Taxonomy.default()), Taxonomy.default())
    book = _book()
    before = book.get(CASE)
    refused = _envelope(city, "W-2", "grid_worker", "self_handle")
    plan = work.plan([refused], set(), book)
    assert [row[3] for row in plan.dead_letters] == [DeadLetterKind.UNAUTHORISED.value]
    assert [row[5] for row in plan.update_audits] == ["self_handle"]
    assert plan.update_audits[0][1] == HASHER.hash("W-2")  # a person: audited by hash
    assert plan.counts["unauthorised_update:grid_worker:self_handle"] == 1
    assert plan.cases == {}
    assert book.get(CASE) == before
    assert len(plan.events) == 1  # recorded, so a replay refuses it again
    applied = work.plan([_envelope(city, "W-1", "grid_worker", "self_handle")], set(), book)
    assert applied.dead_letters == []
    assert applied.update_audits == []
    assert applied.cases[CASE].state is CaseState.SELF_HANDLED


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"kind": "resident"}, "residents are not listed"),
        ({"kind": "grid_worker"}, "needs the grids"),
        ({"kind": "department"}, "needs the departments"),
        ({"kind": "operator"}, "needs a rung"),
        ({"kind": "operator", "rung": "street", "street": "城东街道"}, "needs district"),
        ({"kind": "operator", "rung": "grid"}, "needs grids"),
        ({"kind": "department", "departments": ["x"], "rung": "city"}, "only operators"),
        ({"kind": "operator", "rung": "city", "extra": 1}, "Extra inputs"),
    ],
)
def test_roster_records_without_a_usable_scope_are_invalid(
    value: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        ActorRecord.model_validate_json(orjson.dumps({"actor_id": "A-1"} | value))


def test_the_simulated_city_roster_is_valid_and_covers_its_actors() -> None:
    city = generate_city("demo", 7)
    records = [ActorRecord.model_validate_json(orjson.dumps(a)) for a in actor_records(city)]
    ids = {record.actor_id for record in records}
    assert set(city.workers) <= ids
    assert {"OP-CITY", "D-drainage", "D-lighting", "D-police"} <= ids
    assert len(ids) == len(records)


def test_a_replayed_refusal_is_decided_from_the_envelope_alone(city: CityView) -> None:
    envelope = _envelope(city, "W-2", "grid_worker", "self_handle")
    again = GridEnvelope.model_validate_json(envelope.model_dump_json())
    city.apply_actor("W-2", None)  # the roster changed since: the stored entry still decides
    case = _book().get(CASE)
    assert case is not None
    assert again.case_update is not None
    assert refusal(again.case_update, again.enrichment, case) is not None
