"""Registry updates and tombstones take effect while a worker runs, and a restarted worker
rebuilds its city view from the compacted topics alone."""

import asyncio
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support import events
from tests.support.database import fetch, wait_until
from tests.support.kafka import publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

_APPLIED = re.compile(
    r'^civicgrid_registry_records_total\{topic="civic\.registry\.v1"\} (\S+)$', re.MULTILINE
)


def registry_applied(worker: WorkerProcess) -> int:
    """Registry records the worker's follower has applied, from its /metrics."""
    url = f"http://127.0.0.1:{worker.port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as response:
        found = _APPLIED.search(response.read().decode())
    return int(float(found.group(1))) if found else 0


def publish_registry(endpoints: Endpoints, worker: WorkerProcess, code: str, value: Any) -> None:
    """Publish one registry record and wait until the worker applied it: the follower and the
    intake read different topics, so only then is "the next event" sure to see it."""
    before = registry_applied(worker)
    asyncio.run(publish(endpoints.kafka_bootstrap, [(topics.REGISTRY.name, code, value)]))
    deadline = time.monotonic() + 30
    while registry_applied(worker) <= before:
        assert time.monotonic() < deadline, "the follower did not apply the registry record"
        time.sleep(0.1)


def report(code: str, **fields: Any) -> dict[str, Any]:
    return events.report(code, "路灯不亮了", reporter_id="R-00000002", **fields)


def placed(endpoints: Endpoints, event: dict[str, Any]) -> tuple[str, bool, str | None]:
    """(grid_id, unknown_code, enrichment kind) of one event once it is in Postgres."""
    asyncio.run(publish(endpoints.kafka_bootstrap, [(topics.REPORTS.name, event["code"], event)]))
    url, event_id = endpoints.database_url, event["event_id"]
    sql = f"SELECT count(*) FROM events WHERE event_id = '{event_id}'"
    assert asyncio.run(wait_until(url, sql, 1, 60)) == 1
    query = "SELECT grid_id, unknown_code, payload->'enrichment'->>'kind' FROM events"
    row = asyncio.run(fetch(url, f"{query} WHERE event_id = $1", uuid.UUID(event_id)))[0]
    return row[0], row[1], row[2]


def test_updates_apply_while_running_and_survive_a_restart(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    worker = start_worker()
    worker.wait_ready()
    codes = list(city.iter_codes())
    moved, removed, untouched = codes[0], codes[1], codes[-1]
    target = next(g for g in city.grids if g.grid_id != moved.grid_id)
    assert placed(endpoints, report(moved.code)) == (moved.grid_id, False, moved.kind)

    publish_registry(
        endpoints, worker, moved.code, moved.to_registry_record() | {"grid_id": target.grid_id}
    )
    assert placed(endpoints, report(moved.code)) == (target.grid_id, False, moved.kind)
    publish_registry(endpoints, worker, removed.code, None)
    point = {"lat": removed.lat, "lon": removed.lon}
    assert placed(endpoints, report(removed.code, **point)) == (removed.grid_id, True, None)

    # A new worker knows only what the compacted topics hold: the same city, as updated.
    worker.stop()
    start_worker().wait_ready()
    assert placed(endpoints, report(moved.code)) == (target.grid_id, False, moved.kind)
    assert placed(endpoints, report(removed.code, **point)) == (removed.grid_id, True, None)
    assert placed(endpoints, report(untouched.code)) == (
        untouched.grid_id,
        False,
        untouched.kind,
    )
