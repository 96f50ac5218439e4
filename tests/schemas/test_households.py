"""civic.residents.v1 and civic.presence.v1 (issue 21): the models, their exported schemas,
and the hashing at intake that keeps person codes out of storage."""

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest
from pydantic import ValidationError

from civicgrid.domain.privacy import KeyedHasher, mask_id, protect_presence, protect_resident
from civicgrid.schemas.export import export_json_schemas, schema_path
from civicgrid.schemas.inbound import PresenceObservation, ResidentRecord
from civicgrid.topics import PRESENCE, RESIDENTS, by_name, household_topics

PERSON = "320102199003071234"  # an ID-card-shaped person code, the worst case for a leak
HASHER = KeyedHasher(b"k" * 32)

RESIDENT: dict[str, Any] = {
    "person_code": PERSON,
    "born_on": "1990-03-07",
    "registrations": [
        {
            "household_id": "HH-120034",
            "place_code": "TZ-DP-0001",
            "role": "head",
            "status": "registered",
            "registered_on": "2012-05-01",
        },
        {
            "household_id": "HH-000777",
            "place_code": "TZ-DP-0999",
            "role": "child",
            "status": "moved_out",
            "registered_on": "1990-04-01",
            "status_reason": "moved",
            "status_on": "2012-05-01",
        },
    ],
}
PRESENCE_BODY: dict[str, Any] = {
    "event_id": "0b6f8a9e-2d1c-4f7e-9a51-3c2b1a0d9e8f",
    "occurred_at": "2026-03-01T19:30:00+08:00",
    "schema_version": 1,
    "person_code": PERSON,
    "source": "home_visit",
    "kind": "present",
    "place_code": "TZ-DP-0002",
    "observer_id": "13812345678",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("schemas")
    export_json_schemas(directory)
    return directory


def _validator(directory: Path, topic: str) -> jsonschema.Draft202012Validator:
    # Formats (date, date-time) are assertions here, as a careful app team would run them.
    return jsonschema.Draft202012Validator(
        json.loads(schema_path(directory, topic).read_text("utf-8")),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_valid_records_pass_the_model_and_the_exported_schema(exported: Path) -> None:
    ResidentRecord.model_validate_json(orjson.dumps(RESIDENT))
    PresenceObservation.model_validate_json(orjson.dumps(PRESENCE_BODY))
    _validator(exported, RESIDENTS.name).validate(RESIDENT)
    _validator(exported, PRESENCE.name).validate(PRESENCE_BODY)


def test_catalogue_entries() -> None:
    assert household_topics() == (RESIDENTS, PRESENCE)
    assert RESIDENTS.compacted
    assert RESIDENTS.retention_ms is None
    assert RESIDENTS.key_field == PRESENCE.key_field == "person_code"
    assert not PRESENCE.compacted
    assert by_name("civic.residents.v1").value_model is ResidentRecord


def _entry(**changes: Any) -> dict[str, Any]:
    return RESIDENT | {"registrations": [RESIDENT["registrations"][0] | changes]}


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        (RESIDENTS.name, RESIDENT | {"surprise": 1}),
        (RESIDENTS.name, RESIDENT | {"person_code": "a b"}),
        (RESIDENTS.name, RESIDENT | {"person_code": "x\u0000"}),
        (RESIDENTS.name, RESIDENT | {"born_on": "1990-02-30"}),
        (RESIDENTS.name, RESIDENT | {"registrations": [RESIDENT["registrations"][0]] * 33}),
        (RESIDENTS.name, _entry(status="deceased")),
        (RESIDENTS.name, _entry(role=3)),
        (PRESENCE.name, PRESENCE_BODY | {"source": "gossip"}),
        (PRESENCE.name, PRESENCE_BODY | {"kind": "maybe"}),
        (PRESENCE.name, PRESENCE_BODY | {"schema_version": 2}),
        (PRESENCE.name, {k: v for k, v in PRESENCE_BODY.items() if k != "person_code"}),
    ],
)
def test_hostile_values_are_refused_by_model_and_schema(
    exported: Path, topic: str, body: dict[str, Any]
) -> None:
    model = by_name(topic).value_model
    assert model is not None
    assert not _validator(exported, topic).is_valid(body)
    with pytest.raises(ValidationError):
        model.model_validate_json(orjson.dumps(body))


@pytest.mark.parametrize(
    ("model", "body", "reason"),
    [
        (ResidentRecord, _entry(status="deregistered"), "status_reason and status_on"),
        (ResidentRecord, _entry(status_reason="death", status_on="2020-01-01"), "and only"),
        (
            ResidentRecord,
            _entry(status="deregistered", status_reason="death", status_on="2001-01-01"),
            "before registered_on",
        ),
        (PresenceObservation, PRESENCE_BODY | {"source": "venue_scan", "kind": "died"}, "cannot"),
        (PresenceObservation, PRESENCE_BODY | {"kind": "absent", "place_code": None}, "needs"),
    ],
)
def test_cross_field_rules(model: type[ResidentRecord], body: dict[str, Any], reason: str) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ValidationError, match=reason):
        model.model_validate_json(orjson.dumps(body))


def test_a_death_record_needs_no_place() -> None:
    body = PRESENCE_BODY | {"source": "death_record", "kind": "died"}
    del body["place_code"]
    assert PresenceObservation.model_validate_json(orjson.dumps(body)).place_code is None


def test_protected_records_hold_no_identifier_in_clear() -> None:
    resident = protect_resident(ResidentRecord.model_validate_json(orjson.dumps(RESIDENT)), HASHER)
    seen = protect_presence(
        PresenceObservation.model_validate_json(orjson.dumps(PRESENCE_BODY)), HASHER
    )
    text = resident.model_dump_json() + seen.model_dump_json()
    for clear in (PERSON, "HH-120034", "HH-000777", "13812345678"):
        assert clear not in text
    assert resident.person_code == seen.person_code == HASHER.hash(PERSON)
    assert {e.place_code for e in resident.registrations} == {"TZ-DP-0001", "TZ-DP-0999"}
    assert mask_id(resident.person_code) in resident.person_code[:10] + "…"
    assert len(mask_id(resident.person_code)) == 11
