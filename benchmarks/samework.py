"""The pipeline's stateless stages, for the same-work peers (benchmarks/forwarders.py).

Each inbound record of the city's mix goes through the project's own code, as the intake and
grid stages run it: `routing.route` (parse with schemas/parse.py, mask with
civicgrid/domain/privacy.py, enrich and place from the registry), then, for reports,
`GridWork.classify` with the worker's own classifier (`runtime.classifier`: the packaged head
and encoder, or the constant stub when CIVICGRID_BENCH_CONSTANT_CLASSIFIER is set, as the
harness sets it for the stubbed runs of the worker and the peers alike). The peer keeps one
row per event id in `peer_events`. What the peers leave out (the case book, authorisation of
case updates, escalation, SLA timers, the output and dispatch topics, dead-letter rows, the
transactional offset/row commit) is listed in docs/performance.md.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from civicgrid import runtime
from civicgrid.domain.cityview import CityView
from civicgrid.domain.gridwork import GridWork, ReportVectors
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.routing import RawRecord, route
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.registry_follower import city_appliers
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.schemas.limits import DEFAULT_LIMITS
from civicgrid.schemas.parse import parse_state
from civicgrid.settings import Settings
from tools.city.model import City
from tools.city.publish import city_records

TABLE = "peer_events"
# processed_at is set by the server inside the inserting transaction, as events.processed_at
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (event_id uuid PRIMARY KEY, kind text NOT NULL, "
    "grid_id text NOT NULL, category text, severity text, payload jsonb NOT NULL, "
    "processed_at timestamptz NOT NULL DEFAULT clock_timestamp())"
)
PSEUDONYM_KEY = b"bench-key-0123456789abcdef"  # the worker's, benchmarks/pipeline.py


def city_view(city: City) -> CityView:
    """The registry as the worker holds it, fed record by record through the parser and the
    appliers the registry follower uses (the peers do not pay for reading it from a broker)."""
    view = CityView()
    appliers = city_appliers(view)
    for topic, key, value in city_records(city):
        name, state = parse_state(topic, key.encode(), orjson.dumps(value), DEFAULT_LIMITS)
        appliers[topic](name, state)
    return view


@dataclass
class Stages:
    city: CityView
    work: GridWork
    hasher: KeyedHasher

    @classmethod
    def for_city(cls, city: City) -> "Stages":
        taxonomy = Taxonomy.default()
        hasher = KeyedHasher(PSEUDONYM_KEY)
        classifier = runtime.classifier(Settings(), taxonomy)
        return cls(city_view(city), GridWork(classifier, taxonomy), hasher)

    def rows(self, records: Sequence[RawRecord]) -> list[dict[str, Any]]:
        """Rows for a batch, the reports' texts encoded in one call as the grid stage does;
        records the pipeline would dead-letter give no row."""
        envelopes = [route(record, self.city, self.hasher, datetime.now(UTC)) for record in records]
        kept = [e for e in envelopes if e.kind != "dead_letter"]
        vectors = {v.event_id: v for v in self.work.embed(kept)}
        return [_row(e, self.work, vectors) for e in kept]

    def row(self, record: RawRecord) -> dict[str, Any] | None:
        """One record's row (a record at a time, as a Quix function sees it)."""
        envelope = route(record, self.city, self.hasher, datetime.now(UTC))
        return None if envelope.kind == "dead_letter" else _row(envelope, self.work, {})


def raw(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
) -> RawRecord:
    published = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return RawRecord(topic, partition, offset, published, key, value, ())


def _row(
    envelope: GridEnvelope, work: GridWork, vectors: dict[str, ReportVectors]
) -> dict[str, Any]:
    body = envelope.report or envelope.scan or envelope.patrol or envelope.case_update
    assert body is not None
    verdict = work.classify(envelope, vectors.get(str(body.event_id)))
    return {
        "event_id": str(body.event_id),
        "kind": envelope.kind,
        "grid_id": envelope.grid_id,
        "category": verdict.category if verdict else None,
        "severity": str(verdict.severity) if verdict else None,
        "payload": envelope.model_dump(mode="json", exclude_none=True),
    }
