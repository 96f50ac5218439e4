"""An internal record the broker refuses for good costs that record, not the intake (issue 16,
item 2): a 900 KB description used to become a 1.2 MB dead-letter record, retried forever
as if transient, while all four inbound topics stopped behind it and readiness said 200."""

import asyncio
from collections.abc import Callable

import orjson

from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, unaccounted
from tests.support.kafka import publish_tracked, read_topic
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.faults import event_stream
from tools.workerproc import WorkerProcess

_QUIET = {"CIVICGRID_SLA_CHECK_SECONDS": "86400", "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400"}


def test_a_record_too_large_for_the_broker_is_dead_lettered_and_the_rest_flows(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    records = event_stream(city, 400, seed=2)
    # one of the city's own reports, its description grown to 900 KB
    at = next(i for i, r in enumerate(records) if r[0] == topics.REPORTS.name and i > 150)
    topic, key, value = records[at]
    huge = orjson.loads(value)
    huge["description"] = "路灯不亮" * (900_000 // 12)
    records[at] = (topic, key, orjson.dumps(huge))
    worker = start_worker(**_QUIET)
    worker.wait_ready()

    bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
    published = asyncio.run(publish_tracked(bootstrap, records[: at + 1]))
    published |= asyncio.run(publish_tracked(bootstrap, records[at + 1 :]))
    # the records after the huge one, in its partition and on every other topic, arrive
    assert asyncio.run(unaccounted(url, published, wait_s=90)) == set()
    letters = asyncio.run(fetch(url, "SELECT topic, kind, message FROM dead_letters"))
    assert [(r["topic"], r["kind"]) for r in letters] == [(topic, "oversize")]
    # its dead letter reached the output topic, small enough to pass
    out = asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, 1))
    assert len(out) == 1
    assert len(orjson.dumps(out[0][1])) < 1_000_000
    assert worker.health() == 200
