"""SLA timers across a worker restart: they live in Postgres (`cases.next_timer_at`), so a
timer due while the worker is down fires after it returns, and a tick delivered twice (or
sent by both the leader and an operator) fires nothing twice."""

import asyncio
from collections.abc import Callable

from click.testing import CliRunner

from civicgrid.cli.main import cli
from civicgrid.domain.timers import tick_messages
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.cases import STREET_LIGHT_OUT, Driver, read_all
from tests.support.database import fetch
from tests.support.kafka import publish
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

# the tests are the clock: the leader's own wall-clock tick stays out of their way
QUIET_LEADER = {"CIVICGRID_SLA_CHECK_SECONDS": "86400"}


def test_a_due_timer_fires_after_a_restart_and_none_fires_twice(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    grid = city.grids[0].grid_id
    code = next(c.code for c in city.iter_codes([grid]) if c.kind == "street_light")
    driver = Driver(endpoints.kafka_bootstrap, endpoints.database_url)
    worker = start_worker(**QUIET_LEADER)
    worker.wait_ready()

    async def before_restart() -> tuple[str, dict[str, object]]:
        case_id, report = await driver.report(code, STREET_LIGHT_OUT)
        await driver.update(case_id, "accept", "department")
        warning_at = (await driver.case(case_id))["next_timer_at"]
        await driver.tick(grid, warning_at, report)
        return case_id, report

    case_id, report = asyncio.run(before_restart())
    warned = asyncio.run(driver.case(case_id))
    assert warned["data"]["sla_stage"] == "warned"
    worker.stop()

    # While the worker is down: the warning tick comes again, and the breach falls due.
    # (the warned version's updated_at is the moment of the warning tick)
    (again,) = tick_messages([grid], warned["updated_at"])
    asyncio.run(publish(endpoints.kafka_bootstrap, [(again.topic, again.key, again.value)]))
    env = {
        "CIVICGRID_KAFKA_BROKER": endpoints.kafka_bootstrap,
        "CIVICGRID_DATABASE_URL": endpoints.database_url,
    }
    breach_at = warned["deadline"].isoformat()
    ticked = CliRunner().invoke(cli, ["sla", "tick", "--now", breach_at], env=env)
    assert ticked.exit_code == 0, ticked.output
    assert f"ticked 1 grid(s) at {breach_at}: {grid}" in ticked.output

    start_worker(**QUIET_LEADER).wait_ready()

    async def after_restart() -> None:
        await driver.redeliver(report)  # every tick sent while down is now applied
        await driver.tick(grid, warned["deadline"], report)  # the breach tick, twice

    asyncio.run(after_restart())
    case = asyncio.run(driver.case(case_id))
    assert (case["state"], case["level"]) == ("ESCALATED", "community")
    url = endpoints.database_url
    kinds = [r[0] for r in asyncio.run(fetch(url, "SELECT kind FROM alerts ORDER BY created_at"))]
    assert kinds == ["sla_warning", "sla_breach"]
    alerts = asyncio.run(read_all(endpoints.kafka_bootstrap, topics.ALERTS.name))
    assert [a["kind"] for a in alerts] == kinds
    reasons = asyncio.run(
        fetch(url, "SELECT reason FROM case_history WHERE case_id = $1 ORDER BY version", case_id)
    )
    assert [r[0] for r in reasons].count("sla_warning") == 1
    assert [r[0] for r in reasons].count("sla_breach") == 1
    snapshots = asyncio.run(read_all(endpoints.kafka_bootstrap, topics.CASES.name))
    versions = [s["version"] for s in snapshots if s["case_id"] == case_id]
    assert versions == list(range(1, case["version"] + 1))
