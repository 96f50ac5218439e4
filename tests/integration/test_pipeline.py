"""The whole pipeline through a real broker, a real PostgreSQL and a real worker process."""

import asyncio
from collections.abc import Callable

from civicgrid.db.queries import COUNT_ACCOUNTED
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, fetchval, wait_until
from tests.support.events import report
from tests.support.intake import leaks
from tests.support.kafka import publish, read_topic
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess


def test_reports_become_cases_dispatches_and_rows(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    start_worker().wait_ready()
    codes = {code.kind: code for code in city.iter_codes()}
    cover, lamp = codes["manhole_cover"], codes["street_light"]
    urgent = report(cover.code, "小区门口的窨井盖不见了，很危险，联系我13812345678")
    small = report(lamp.code, "路灯晚上不亮了，身份证320102199003071234")
    records = [
        (topics.REPORTS.name, cover.code, urgent),
        (topics.REPORTS.name, lamp.code, small),
        (topics.REPORTS.name, cover.code, urgent),  # a producer retry: same event_id
        (topics.REPORTS.name, "x", b"{broken json"),
    ]
    asyncio.run(publish(endpoints.kafka_bootstrap, records))
    url = endpoints.database_url
    assert asyncio.run(wait_until(url, COUNT_ACCOUNTED, 4)) == 4

    cases = {row["category"]: row for row in asyncio.run(fetch(url, "SELECT * FROM cases"))}
    assert cases["01002"]["level"] == "street"  # P1: straight to the network
    assert cases["01037"]["level"] == "grid"  # a small matter stays in the grid
    assert asyncio.run(fetchval(url, "SELECT count(*) FROM duplicate_deliveries")) == 1
    assert asyncio.run(fetchval(url, "SELECT kind FROM dead_letters")) == "invalid_json"

    network = asyncio.run(read_topic(endpoints.kafka_bootstrap, topics.DISPATCH_NETWORK.name, 1))
    grid = asyncio.run(read_topic(endpoints.kafka_bootstrap, topics.DISPATCH_GRID.name, 1))
    assert network[0][1]["category"] == "01002"
    assert network[0][1]["lead_department"] == "drainage"
    assert grid[0][1]["category"] == "01037"
    letters = asyncio.run(read_topic(endpoints.kafka_bootstrap, topics.DEADLETTER.name, 1))
    assert letters[0][1]["kind"] == "invalid_json"

    payloads = asyncio.run(fetch(url, "SELECT payload::text FROM events"))
    assert payloads
    for row in payloads:
        assert not leaks(row[0])
        assert "R-13800001111" not in row[0]
