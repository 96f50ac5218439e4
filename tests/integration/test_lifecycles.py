"""Whole case lifecycles (SPEC §4, §5) through the real broker, PostgreSQL and one worker.

One worker serves the module; every test works in a grid of its own, so a tick sent to one
grid cannot move another test's cases. The worker's own SLA timer is pushed out of the
tests' reach: the tests are the clock, through tick envelopes with a `now` they choose.
"""

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from civicgrid.cli.main import cli
from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.cases import COVER_MISSING, STREET_LIGHT_OUT, TAIZHOU, Driver, read_all
from tests.support.database import fetch, wait_until
from tests.support.intake import metric_sum, scrape
from tests.support.kafka import NO_BROKER
from tests.support.replay import recompute
from tests.support.stack import fresh_stack
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.city.roster import actor_records, community_operator, department_actor
from tools.workerproc import WorkerProcess


@dataclass
class Grid:
    grid_id: str
    street_lights: list[str]
    manhole_covers: list[str]


@dataclass
class Stack:
    endpoints: Endpoints
    driver: Driver
    grids: Iterator[Grid]
    port: int  # the worker's /metrics


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("lifecycles")
    with fresh_stack(postgres_server, base) as endpoints:
        city = generate_city("demo", 7)
        asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
        worker = WorkerProcess(
            endpoints,
            base / "worker",
            base / "worker.log",
            {
                "CIVICGRID_PSEUDONYM_KEY": "test-key-0123456789abcdef",
                "CIVICGRID_SLA_CHECK_SECONDS": "86400",
            },
        ).start()
        try:
            worker.wait_ready()
            url = endpoints.database_url
            yield Stack(
                endpoints, Driver(endpoints.kafka_bootstrap, url), _grids(city), worker.port
            )
        finally:
            worker.stop()


def _grids(city: Any) -> Iterator[Grid]:
    for grid in city.grids:
        codes = list(city.iter_codes([grid.grid_id]))
        yield Grid(
            grid.grid_id,
            [c.code for c in codes if c.kind == "street_light"],
            [c.code for c in codes if c.kind == "manhole_cover"],
        )


def snapshots(stack: Stack, case_id: str) -> list[tuple[int, str]]:
    found = asyncio.run(read_all(stack.endpoints.kafka_bootstrap, topics.CASES.name))
    return [(s["version"], s["state"]) for s in found if s["case_id"] == case_id]


def dispatches(stack: Stack, topic: str, case_id: str) -> list[dict[str, Any]]:
    found = asyncio.run(read_all(stack.endpoints.kafka_bootstrap, topic))
    return [d for d in found if d["case_id"] == case_id]


def test_small_matter_self_handled(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> str:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        await driver.update(case_id, "self_handle", "grid_worker", "当场修复")
        await driver.update(case_id, "check_pass", "operator")
        return case_id

    case_id = asyncio.run(run())
    case = asyncio.run(driver.case(case_id))
    assert (case["state"], case["level"], case["version"], case["is_open"]) == (
        "CLOSED",
        "grid",
        5,
        False,
    )
    assert snapshots(stack, case_id) == [
        (1, "REPORTED"),
        (2, "REGISTERED"),
        (3, "DISPATCHED"),
        (4, "SELF_HANDLED"),
        (5, "CLOSED"),
    ]
    (task,) = dispatches(stack, topics.DISPATCH_GRID.name, case_id)
    assert task["grid_id"] == grid.grid_id


def test_dispatched_handled_checked_closed(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> str:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        for action in ("accept", "start", "handle"):
            await driver.update(case_id, action, "department")
        await driver.update(case_id, "check_pass", "grid_worker")
        return case_id

    case_id = asyncio.run(run())
    assert asyncio.run(driver.states(case_id)) == [
        "REPORTED", "REGISTERED", "DISPATCHED", "ACCEPTED", "IN_PROGRESS", "HANDLED",
        "CHECKING", "CLOSED",
    ]  # fmt: skip
    assert [v for v, _ in snapshots(stack, case_id)] == list(range(1, 9))


def test_rework_then_closed(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> str:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        for action in ("accept", "start", "handle"):
            await driver.update(case_id, action, "department")
        await driver.update(case_id, "check_fail", "grid_worker", "现场未整改到位")
        await driver.update(case_id, "handle", "department")
        await driver.update(case_id, "check_pass", "grid_worker")
        return case_id

    case_id = asyncio.run(run())
    states = asyncio.run(driver.states(case_id))
    assert states[6:] == ["CHECKING", "IN_PROGRESS", "HANDLED", "CHECKING", "CLOSED"]
    case = asyncio.run(driver.case(case_id))
    assert (case["state"], case["level"]) == ("CLOSED", "grid")
    assert case["data"]["rework_count"] == 1


def test_return_redispatch_then_second_return_escalates(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> str:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        await driver.update(case_id, "return", "department", "非本单位职责")
        await driver.update(case_id, "accept", "department")
        await driver.update(case_id, "return", "department", "地址不在辖区")
        return case_id

    case_id = asyncio.run(run())
    assert asyncio.run(driver.states(case_id))[3:] == [
        "RETURNED", "DISPATCHED", "ACCEPTED", "RETURNED", "ESCALATED",
    ]  # fmt: skip
    case = asyncio.run(driver.case(case_id))
    assert (case["level"], case["data"]["return_count"]) == ("street", 2)
    assert len(dispatches(stack, topics.DISPATCH_GRID.name, case_id)) == 2  # first + re-dispatch
    (network,) = dispatches(stack, topics.DISPATCH_NETWORK.name, case_id)
    assert (network["reason"], network["level"]) == ("returned 2 times", "street")


def test_p1_goes_straight_to_the_network(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> str:
        case_id, _ = await driver.report(grid.manhole_covers[0], COVER_MISSING)
        for action in ("accept", "start", "handle"):
            await driver.update(case_id, action, "department")
        await driver.update(case_id, "check_pass", "grid_worker")
        return case_id

    case_id = asyncio.run(run())
    case = asyncio.run(driver.case(case_id))
    assert (case["state"], case["level"], case["severity"]) == ("CLOSED", "street", "P1")
    (network,) = dispatches(stack, topics.DISPATCH_NETWORK.name, case_id)
    assert network["lead_department"] == "drainage"
    assert dispatches(stack, topics.DISPATCH_GRID.name, case_id) == []


def test_overdue_escalates_two_rungs_and_timers_fire_once(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> tuple[str, list[str]]:
        case_id, report = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        await driver.update(case_id, "accept", "department")
        fired: list[str] = []
        for _ in range(3):  # warning, breach (-> community), breach (-> street)
            case = await driver.case(case_id)
            due = case["next_timer_at"] if not fired else case["deadline"]
            await driver.tick(grid.grid_id, due, report)
            await driver.tick(grid.grid_id, due, report)  # the same tick twice fires once
            fired.append((await driver.case(case_id))["level"])
        return case_id, fired

    case_id, levels = asyncio.run(run())
    assert levels == ["grid", "community", "street"]
    case = asyncio.run(driver.case(case_id))
    assert (case["state"], case["level"]) == ("ESCALATED", "street")
    assert case["data"]["escalation_reasons"] == [
        "SLA breach at the grid rung",
        "SLA breach at the community rung",
    ]
    url = stack.endpoints.database_url
    kinds = [r[0] for r in asyncio.run(fetch(url, "SELECT kind FROM alerts ORDER BY created_at"))]
    assert kinds == ["sla_warning", "sla_breach", "sla_breach"]
    alerts = asyncio.run(read_all(stack.endpoints.kafka_bootstrap, topics.ALERTS.name))
    assert [a["kind"] for a in alerts if a["grid_id"] == grid.grid_id] == kinds
    network = dispatches(stack, topics.DISPATCH_NETWORK.name, case_id)
    assert [n["level"] for n in network] == ["community", "street"]

    late = (case["deadline"] + timedelta(minutes=1)).isoformat()
    overdue = CliRunner().invoke(
        cli,
        ["cases", "--open", "--overdue", "--now", late, "--format", "json"],
        env=_cli_env(stack),
    )
    assert overdue.exit_code == 0, overdue.output
    assert case["case_code"] in [c["case_code"] for c in orjson.loads(overdue.output)]
    on_time = CliRunner().invoke(
        cli,
        ["cases", "--open", "--overdue", "--now", case["deadline"].isoformat()],
        env=_cli_env(stack),
    )
    assert on_time.exit_code == 0, on_time.output
    assert case["case_code"] not in on_time.output


def test_duplicates_join_then_repeat_point_escalates(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)
    code = grid.street_lights[0]

    async def run() -> list[str]:
        return [
            (await driver.report(code, STREET_LIGHT_OUT, reporter=f"R-{n}"))[0] for n in (1, 2, 3)
        ]

    first, second, third = asyncio.run(run())
    assert first == second == third
    case = asyncio.run(driver.case(first))
    assert (case["data"]["duplicate_count"], len(case["data"]["event_ids"])) == (2, 3)
    # lifted onto the network before anyone accepted it: dispatched again at the street rung
    assert (case["state"], case["level"]) == ("DISPATCHED", "street")
    (network,) = dispatches(stack, topics.DISPATCH_NETWORK.name, first)
    assert network["reason"] == "repeat point: 3 or more reports in 7 days"


def test_a_point_counts_the_reports_of_its_closed_cases(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)
    code = grid.street_lights[0]

    async def run() -> list[str]:
        case_ids = []
        for n in (1, 2, 3):
            case_id, _ = await driver.report(code, STREET_LIGHT_OUT, reporter=f"R-{n}")
            case_ids.append(case_id)
            if n < 3:  # settled on the spot: the next report opens a case of its own
                await driver.update(case_id, "self_handle", "grid_worker", "当场修复")
                await driver.update(case_id, "check_pass", "operator")
        return case_ids

    first, second, third = asyncio.run(run())
    assert len({first, second, third}) == 3
    case = asyncio.run(driver.case(third))
    assert (case["state"], case["level"]) == ("DISPATCHED", "street")
    (network,) = dispatches(stack, topics.DISPATCH_NETWORK.name, third)
    assert network["reason"] == "repeat point: 3 or more reports in 7 days"
    alerts = asyncio.run(
        fetch(
            stack.endpoints.database_url,
            "SELECT alert_id, observed FROM alerts WHERE kind = 'repeat_point' "
            "AND alert_id LIKE $1",
            f"repeat_point:{third}:%",
        )
    )
    assert [row["observed"] for row in alerts] == [3.0]


def test_invalid_updates_are_dead_lettered_and_change_nothing(stack: Stack) -> None:
    driver, grid = stack.driver, next(stack.grids)

    async def run() -> tuple[str, dict[str, Any], list[str]]:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        await driver.update(case_id, "accept", "department")
        before = await driver.case(case_id)
        refused = [
            await driver.update(case_id, "close", "operator"),  # not checked: no closing
            await driver.update(case_id, "accept", "department"),  # stale step
            await driver.update(case_id, "start", "resident"),  # not a resident's step
            await driver.update(f"{grid.grid_id}~999", "accept", "department"),  # unknown
        ]
        return case_id, before, refused

    case_id, before, refused = asyncio.run(run())
    after = asyncio.run(driver.case(case_id))
    assert (after["version"], after["state"], after["data"]) == (
        before["version"],
        before["state"],
        before["data"],
    )
    url = stack.endpoints.database_url
    letters = asyncio.run(
        fetch(
            url,
            "SELECT event_id::text, kind, message FROM dead_letters "
            "WHERE event_id = ANY($1::uuid[])",
            refused,
        )
    )
    by_event = {row[0]: (row[1], row[2]) for row in letters}
    assert [by_event[e][0] for e in refused] == [
        "rejected_transition", "rejected_transition", "unauthorised", "unknown_case",
    ]  # fmt: skip
    assert "close is not allowed in state ACCEPTED" in by_event[refused[0]][1]
    on_topic = asyncio.run(read_all(stack.endpoints.kafka_bootstrap, topics.DEADLETTER.name))
    assert {m["message"] for m in on_topic} >= {message for _, message in by_event.values()}

    shown = CliRunner().invoke(cli, ["case", "show", after["case_code"]], env=_cli_env(stack))
    assert shown.exit_code == 0, shown.output
    assert "accept by department" in shown.output
    assert "ACCEPTED" in shown.output


def test_updates_outside_the_roster_scope_are_refused(stack: Stack) -> None:
    """issue 16 item 13: a grid worker of another grid closing a case, a resident claiming to
    be an operator and reopening it, and the like are dead letters `unauthorised`, audited and
    counted, and change nothing; the same steps by actors in scope apply."""
    driver, grid, other = stack.driver, next(stack.grids), next(stack.grids)
    while community_operator(other.grid_id) == community_operator(grid.grid_id):
        other = next(stack.grids)
    stranger = f"W-{other.grid_id}-1"  # on the roster, for another grid

    async def run() -> tuple[str, list[str], list[str]]:
        case_id, _ = await driver.report(grid.street_lights[0], STREET_LIGHT_OUT)
        refused = [
            await driver.update(case_id, "self_handle", "grid_worker", actor_id=stranger),
            await driver.update(
                case_id, "accept", "department", actor_id=department_actor("police")
            ),
            await driver.update(case_id, "accept", "department", actor_id="D-nobody"),
        ]
        applied = [await driver.update(case_id, "self_handle", "grid_worker")]
        refused += [
            await driver.update(case_id, "check_pass", "grid_worker", actor_id=stranger),
            await driver.update(
                case_id, "check_pass", "operator", actor_id=community_operator(other.grid_id)
            ),
            # a grid worker claiming to be an operator
            await driver.update(case_id, "close", "operator", actor_id=f"W-{grid.grid_id}-1"),
        ]
        applied.append(
            await driver.update(
                case_id, "check_pass", "operator", actor_id=community_operator(grid.grid_id)
            )
        )
        refused += [
            await driver.update(case_id, "reopen", "operator", actor_id="R-1"),
            await driver.update(case_id, "reopen", "resident"),
            await driver.update(case_id, "evaluate", "resident", "满意", actor_id="R-2"),
        ]
        applied.append(await driver.update(case_id, "evaluate", "resident", "满意"))
        applied.append(await driver.update(case_id, "reopen", "operator"))  # the city's
        return case_id, refused, applied

    case_id, refused, applied = asyncio.run(run())
    assert asyncio.run(driver.states(case_id)) == [
        "REPORTED", "REGISTERED", "DISPATCHED", "SELF_HANDLED", "CLOSED", "CLOSED", "DISPATCHED",
    ]  # fmt: skip
    url = stack.endpoints.database_url
    history = asyncio.run(
        fetch(url, "SELECT event_id::text FROM case_history WHERE case_id = $1", case_id)
    )
    caused = {row[0] for row in history}
    assert set(applied) <= caused
    assert not caused & set(refused)
    letters = asyncio.run(
        fetch(
            url,
            "SELECT event_id::text, kind, message FROM dead_letters "
            "WHERE event_id = ANY($1::uuid[])",
            refused + applied,
        )
    )
    kinds = {row[0]: row[1] for row in letters}
    assert [kinds.get(e) for e in refused] == ["unauthorised"] * len(refused)
    assert not set(kinds) & set(applied)
    messages = {row[0]: row[2] for row in letters}
    assert "outside the scope" in messages[refused[0]]
    assert "not dispatched to department" in messages[refused[1]]
    assert "not on the roster" in messages[refused[2]]
    assert "on the roster as a grid_worker, not a operator" in messages[refused[5]]
    assert "a resident may not reopen" in messages[refused[7]]
    assert "only a case they reported" in messages[refused[8]]
    audits = asyncio.run(
        fetch(
            url,
            "SELECT event_id::text, actor_id, action FROM update_audits WHERE case_id = $1",
            case_id,
        )
    )
    assert sorted(row[0] for row in audits) == sorted(refused)
    # only office holders the roster lists are audited in clear; anyone else by keyed hash
    in_clear = {row[0] for row in audits if not row[1].startswith("h:")}
    assert in_clear == {refused[1], refused[4]}
    case = asyncio.run(driver.case(case_id))
    assert case["data"]["evaluation"] == "满意"
    # the roster the worker judged by is in the state mirror too, for the console
    roster = len(list(actor_records(generate_city("demo", 7))))
    mirrored = asyncio.run(wait_until(url, "SELECT count(*) FROM mirror_actors", roster))
    assert mirrored == roster
    samples = scrape(stack.port)
    assert metric_sum(samples, "civicgrid_unauthorised_updates_total") >= len(refused)
    assert metric_sum(samples, "civicgrid_dead_letters_total", kind="unauthorised") >= len(refused)


def test_console_actions_through_the_worker(stack: Stack) -> None:
    """SPEC §10 (issue 20): a report marked 核实 waits in VERIFYING until verified, an
    extension waits for an operator's approval, a case is suspended (挂账) and resumed and
    supervised (督办); a rejected report is cancelled with its reason."""
    driver, grid, other = stack.driver, next(stack.grids), next(stack.grids)

    async def run() -> tuple[str, str, list[str]]:
        case_id, _ = await driver.report(
            grid.street_lights[0], STREET_LIGHT_OUT, needs_verification=True
        )
        refused = [await driver.update(case_id, "accept", "department")]  # not verified yet
        await driver.update(case_id, "verify", "grid_worker", "现场属实")
        await driver.update(case_id, "accept", "department")
        await driver.update(case_id, "request_extension", "department", "2 working days")
        await driver.update(case_id, "approve_extension", "operator")
        refused.append(await driver.update(case_id, "approve_extension", "operator"))
        refused.append(await driver.update(case_id, "supervise", "department", supervision="red"))
        await driver.update(case_id, "supervise", "operator", "请加快处置", supervision="red")
        await driver.update(case_id, "suspend", "operator", "待材料到货")
        await driver.update(case_id, "resume", "operator")
        rejected_id, _ = await driver.report(
            other.street_lights[0], STREET_LIGHT_OUT, needs_verification=True
        )
        await driver.update(rejected_id, "reject", "operator", "现场无此问题")
        return case_id, rejected_id, refused

    case_id, rejected_id, refused = asyncio.run(run())
    assert asyncio.run(driver.states(case_id)) == [
        "REPORTED", "VERIFYING", "REGISTERED", "DISPATCHED", "ACCEPTED", "ACCEPTED", "ACCEPTED",
        "ACCEPTED", "SUSPENDED", "ACCEPTED",
    ]  # fmt: skip
    case = asyncio.run(driver.case(case_id))
    assert (case["severity"], case["data"]["supervision"]) == ("P1", "red")
    assert (case["data"]["extension_count"], case["data"]["extension_requested"]) == (1, None)
    assert case["data"]["suspended_from"] is None
    assert asyncio.run(driver.states(rejected_id)) == ["REPORTED", "VERIFYING", "CANCELLED"]
    letters = asyncio.run(
        fetch(
            stack.endpoints.database_url,
            "SELECT event_id::text, kind FROM dead_letters WHERE event_id = ANY($1::uuid[])",
            refused,
        )
    )
    kinds = {row[0]: row[1] for row in letters}
    assert [kinds[e] for e in refused] == [
        "rejected_transition", "rejected_transition", "unauthorised",
    ]  # fmt: skip
    # the grid's task went out once, when the case was verified
    assert len(dispatches(stack, topics.DISPATCH_GRID.name, case_id)) == 1
    assert "VERIFYING" in {state for _, state in snapshots(stack, rejected_id)}
    # 督办 and the approved extension count against the lead department (docs/assessment.md)
    day = case["opened_at"].astimezone(TAIZHOU).date().isoformat()
    assessed = CliRunner().invoke(
        cli, ["assess", "--day", day, "--format", "csv"], env=_cli_env(stack)
    )
    assert assessed.exit_code == 0, assessed.output
    lighting = next(
        row for row in csv.DictReader(io.StringIO(assessed.output)) if row["subject"] == "lighting"
    )
    assert float(lighting["supervision_rate"]) > 0
    assert float(lighting["extension_rate"]) > 0


def test_a_reclassified_case_is_re_routed_and_kept_as_a_labelled_example(stack: Stack) -> None:
    """Issue 17: an operator's `reclassify` withdraws the grid's task, dispatches the new
    category's owners on the network, and stores the correction once, its text masked."""
    driver, grid = stack.driver, next(stack.grids)
    phone = "13812345678"

    async def run() -> tuple[str, str, str]:
        case_id, _ = await driver.report(grid.street_lights[0], f"{STREET_LIGHT_OUT}，电话{phone}")
        await driver.update(case_id, "accept", "grid_worker")
        event_id = await driver.update(
            case_id, "reclassify", "operator", "是井盖丢失", category="01002"
        )
        refused = await driver.update(case_id, "reclassify", "department", category="01037")
        return case_id, event_id, refused

    case_id, event_id, refused = asyncio.run(run())
    case = asyncio.run(driver.case(case_id))
    assert (case["category"], case["severity"], case["state"]) == ("01002", "P1", "DISPATCHED")
    assert case["data"]["departments"] == ["drainage"]
    grid_tasks = dispatches(stack, topics.DISPATCH_GRID.name, case_id)
    assert [(t["category"], t.get("withdrawn")) for t in grid_tasks] == [
        ("01037", False),
        ("01037", True),
    ]
    network = dispatches(stack, topics.DISPATCH_NETWORK.name, case_id)
    assert [(t["lead_department"], t["withdrawn"]) for t in network] == [("drainage", False)]
    rows = asyncio.run(
        fetch(
            stack.endpoints.database_url,
            "SELECT event_id::text, report_text, from_category, to_category, to_severity, "
            "actor_hash FROM classification_corrections WHERE case_id = $1",
            case_id,
        )
    )
    assert [tuple(r)[:1] + tuple(r)[2:5] for r in rows] == [(event_id, "01037", "01002", "P1")]
    assert rows[0]["report_text"].startswith(STREET_LIGHT_OUT)  # the case's first report
    assert phone not in rows[0]["report_text"]  # as stored: masked
    assert rows[0]["actor_hash"].startswith("h:")  # the operator by keyed hash
    kinds = asyncio.run(
        fetch(
            stack.endpoints.database_url,
            "SELECT kind FROM dead_letters WHERE event_id = $1::uuid",
            refused,
        )
    )
    assert [k[0] for k in kinds] == ["unauthorised"]
    samples = scrape(stack.port)
    counted = metric_sum(
        samples,
        "civicgrid_classification_corrections_total",
        from_category="01037",
        to_category="01002",
    )
    assert counted == 1


def test_states_in_postgres_equal_the_replayed_history(stack: Stack) -> None:
    """Runs last in the module: every case the lifecycles above left is recomputed from the
    events (and the ticks the history records) through the pure case book."""
    stored, replayed = asyncio.run(recompute(stack.endpoints.database_url))
    assert len(stored) >= 8
    assert replayed == stored


def _cli_env(stack: Stack) -> dict[str, str]:
    """The operator commands read PostgreSQL alone: no broker listens at this address."""
    return {
        "CIVICGRID_KAFKA_BROKER": NO_BROKER,
        "CIVICGRID_DATABASE_URL": stack.endpoints.database_url,
    }
