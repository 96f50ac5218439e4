"""The demo city through a real worker: every event with a registered code is enriched, every
report with only a point lands in the grid the generator says, unknown codes are kept."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from itertools import islice
from typing import Any

import orjson

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, wait_until
from tests.support.events import TAIZHOU, report
from tests.support.kafka import Record, publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.city.simulate import CitySimulator
from tools.workerproc import WorkerProcess

SIMULATED = 2_500
MONDAY_MORNING = datetime(2026, 11, 23, 10, tzinfo=TAIZHOU)


def unknown_report(**fields: Any) -> dict[str, Any]:
    return report(
        "TZ-NEVER-REGISTERED",
        "楼道里堆满了杂物",
        channel="app",
        reporter_id="R-00000001",
        **fields,
    )


def test_simulated_events_are_enriched_and_placed_as_the_generator_says(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    start_worker().wait_ready()
    # A fixed working-day morning: the simulated mix follows the workers' duty hours and the
    # working calendar, so a start taken from the clock gave 14 point-only reports on a
    # weekday and 33 at a weekend, and the count below failed on weekdays.
    simulator = CitySimulator(city, 7, MONDAY_MORNING, 60.0)
    simulated = list(islice(simulator.events(rate=100, duration_s=120), SIMULATED))
    grid = city.grids[2]
    kept = unknown_report(grid_id=grid.grid_id)
    lost = unknown_report()
    records: list[Record] = [(e.topic, e.key, e.value) for e in simulated]
    records += [(topics.REPORTS.name, r["code"], r) for r in (kept, lost)]
    asyncio.run(publish(endpoints.kafka_bootstrap, records))
    url = endpoints.database_url
    # ~480 distinct reports at ~42 ms of encoder CPU each: generous for a loaded machine
    assert asyncio.run(wait_until(url, COUNT_ACCOUNTED, len(records), 300)) == len(records)

    rows = {
        str(row["event_id"]): row
        for row in asyncio.run(
            fetch(url, "SELECT event_id, kind, grid_id, unknown_code, payload::text FROM events")
        )
    }
    codes = {code.code: code for code in city.iter_codes()}
    enriched = located = 0
    for event in simulated:
        if event.topic not in (topics.SCANS.name, topics.REPORTS.name):
            continue
        row = rows[event.value["event_id"]]
        enrichment = orjson.loads(row["payload"])["enrichment"]
        code = codes.get(event.value.get("code", ""))
        if code is not None:
            # The simulator only uses registered codes: each must be enriched from the registry.
            grid_of_code = city.grid(code.grid_id)
            assert (row["grid_id"], row["unknown_code"]) == (code.grid_id, False)
            assert enrichment["placed_by"] == "code"
            assert enrichment["element_type"] == code.element_type
            assert enrichment["kind"] == code.kind
            rungs = (enrichment["community"], enrichment["street"], enrichment["district"])
            assert rungs == (grid_of_code.community, grid_of_code.street, grid_of_code.district)
            enriched += 1
        elif "grid_id" not in event.value:
            lat, lon = event.value["lat"], event.value["lon"]
            assert row["grid_id"] == city.locate(lat, lon)
            assert city.grid(row["grid_id"]).contains(lat, lon)
            assert enrichment["placed_by"] == "lat_lon"
            located += 1
    # The mix must have exercised both paths, or the loop above proved little.
    assert enriched > 500
    assert located >= 10

    kept_row = rows[kept["event_id"]]
    assert (kept_row["grid_id"], kept_row["unknown_code"]) == (grid.grid_id, True)
    assert orjson.loads(kept_row["payload"])["enrichment"]["community"] == grid.community
    # The unknown code with nothing else to place it by is the run's only dead letter.
    letters = asyncio.run(fetch(url, "SELECT kind, topic FROM dead_letters"))
    assert [tuple(r) for r in letters] == [("unplaceable", topics.REPORTS.name)]
    assert lost["event_id"] not in rows
