"""The simulated town (town.py) as the topics' records, for the stream's test and benchmark.

Dates move by `shift` days so that the town's evaluation day falls on today: the stream
reconciles as of its own clock. Observations are ordered by the day they reach the stream
(late census sheets come weeks after the visit). Person codes here are clear, as upstream
publishes them: intake hashes them.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from civicgrid.schemas.inbound import ResidentRecord
from civicgrid.topics import catalogue as topics
from evaluation.households.town import AS_OF, Town

CITY, DISTRICT, STREET = "泰州市", "海陵区", "城西街道"
POLICE_STATION = "D-police-HL-07"  # the street's police station (派出所), a department actor
STREET_OPERATOR = "OP-HL-07"
_IDS = uuid.UUID("0f6a7d1e-5b3c-4e2a-9c8d-7e6f5a4b3c2d")

Record = tuple[str, str, Any]  # topic, key, value (a dict: JSON)


def shift_to(today: date) -> int:
    return (today - AS_OF).days


def community_of(grid_id: str) -> str:
    return f"城西{grid_id.split('-')[3]}社区"


def state_records(town: Town) -> list[Record]:
    """Grids, the registry's places, and the actors who handle the findings: the street's
    police station (department `police`, the lead of L0103) and its operator."""
    grids = sorted({p.grid_id for p in town.places.values()})
    records: list[Record] = [
        (
            topics.GRIDS.name,
            grid,
            {
                "grid_id": grid,
                "name": grid,
                "community": community_of(grid),
                "street": STREET,
                "district": DISTRICT,
                "city": CITY,
            },
        )
        for grid in grids
    ]
    records += [
        (
            topics.REGISTRY.name,
            place.code,
            {
                "code": place.code,
                "element_type": "place",
                "kind": place.kind,
                "grid_id": place.grid_id,
            },
        )
        for place in town.places.values()
    ]
    records += [
        (
            topics.ACTORS.name,
            POLICE_STATION,
            {
                "actor_id": POLICE_STATION,
                "kind": "department",
                "name": "城西派出所",
                "departments": ["police"],
                "street": STREET,
                "district": DISTRICT,
            },
        ),
        (
            topics.ACTORS.name,
            STREET_OPERATOR,
            {
                "actor_id": STREET_OPERATOR,
                "kind": "operator",
                "rung": "street",
                "street": STREET,
                "district": DISTRICT,
            },
        ),
    ]
    return records


def _day(value: date | None, shift: int) -> str | None:
    return None if value is None else (value + timedelta(days=shift)).isoformat()


def resident_value(record: ResidentRecord, shift: int) -> dict[str, Any]:
    value = record.model_dump(mode="json", exclude_none=True)
    if record.born_on is not None:
        value["born_on"] = _day(record.born_on, shift)
    for entry, original in zip(value["registrations"], record.registrations, strict=True):
        entry["registered_on"] = _day(original.registered_on, shift)
        if original.status_on is not None:
            entry["status_on"] = _day(original.status_on, shift)
    return value


def resident_records(town: Town, shift: int) -> list[Record]:
    return [
        (topics.RESIDENTS.name, code, resident_value(record, shift))
        for code, record in sorted(town.residents.items())
    ]


@dataclass(frozen=True, slots=True)
class Observation:
    published: date  # shifted: the day it reaches the stream
    record: Record


def observations(town: Town, shift: int) -> list[Observation]:
    """Every sighting as a civic.presence.v1 record, in the order they reach the stream."""
    out: list[Observation] = []
    for code, seen in sorted(town.sightings.items()):
        for n, observed in enumerate(seen):
            s = observed.sighting
            value: dict[str, Any] = {
                "event_id": str(uuid.uuid5(_IDS, f"{code}:{n}")),
                "occurred_at": f"{_day(s.day, shift)}T10:00:00+08:00",
                "schema_version": 1,
                "person_code": code,
                "source": s.source.value,
                "kind": s.kind.value,
            }
            if s.place_code is not None:
                value["place_code"] = s.place_code
            if s.born_on is not None:
                value["born_on"] = _day(s.born_on, shift)
            published = observed.published + timedelta(days=shift)
            out.append(Observation(published, (topics.PRESENCE.name, code, value)))
    out.sort(key=lambda o: (o.published, o.record[2]["occurred_at"]))
    return out


def split_last_day(items: list[Observation], today: date) -> tuple[list[Record], list[Record]]:
    """The history (reached the stream before today) and today's new observations."""
    history = [o.record for o in items if o.published < today]
    fresh = [o.record for o in items if o.published >= today]
    return history, fresh


def iter_values(records: list[Record]) -> Iterator[Any]:
    return (value for _, _, value in records)
