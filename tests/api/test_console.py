"""The operations console in a real headless Chromium, over the real API, worker, broker and
PostgreSQL: a street operator signs in, sees only that street's grids and cases, watches a
new report appear on the map without a reload, opens it, verifies it (核实) and sees the case
dispatched. Scope is refused by the server, tested without the browser too."""

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser

from civicgrid.topics import catalogue as topics
from tests.api.conftest import KEY, Stack, screenshot_path
from tests.support.events import report
from tests.support.kafka import publish
from tools.city.generate import generate_city

PASSWORD = "correct horse battery"


def _add_operator(stack: Stack, name: str, role: str, scope: str) -> None:
    env = {**os.environ, **stack.endpoints.environment(), "CIVICGRID_PSEUDONYM_KEY": KEY}
    argv = ["operator", "add", name, "--role", role, "--scope", scope, "--password-stdin"]
    added = subprocess.run(
        [sys.executable, "-m", "civicgrid", *argv],
        input=PASSWORD.encode() + b"\n",
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr.decode()[-2000:]


@pytest.fixture(scope="module")
def streets(stack: Stack) -> tuple[str, set[str], str]:
    """The first grid's street, its grids, and a grid of another street."""
    city = generate_city("demo", 7)
    street = city.grids[0].street
    mine = {g.grid_id for g in city.grids if g.street == street}
    other = next(g.grid_id for g in city.grids if g.street != street)
    _add_operator(stack, "street-duty", "street", street)
    return street, mine, other


async def _report_to_verify(stack: Stack) -> str:
    """A hotline report marked 核实: its case waits in VERIFYING for an operator."""
    value = report(stack.street_lights[2], "路灯杆歪了，请核实", needs_verification=True)
    await publish(stack.endpoints.kafka_bootstrap, [(topics.REPORTS.name, value["code"], value)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        connection = await asyncpg.connect(stack.endpoints.database_url)
        try:
            found = await connection.fetchval(
                "SELECT case_id FROM events WHERE event_id = $1::uuid", value["event_id"]
            )
        finally:
            await connection.close()
        if found:
            return str(found)
        await asyncio.sleep(0.1)
    raise AssertionError("the report marked 核实 opened no case")


async def _state(stack: Stack, case_id: str) -> str:
    connection = await asyncpg.connect(stack.endpoints.database_url)
    try:
        return str(await connection.fetchval("SELECT state FROM cases WHERE case_id = $1", case_id))
    finally:
        await connection.close()


async def test_street_operator_watches_verifies_and_dispatches(
    stack: Stack, streets: tuple[str, set[str], str], browser: Browser, tmp_path: Path
) -> None:
    _, mine, _ = streets
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    await page.goto(f"{stack.api.url}/console")
    await page.get_by_label("用户名").fill("street-duty")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    polygons = page.locator("#map polygon")
    await polygons.first.wait_for()
    shown = set(await polygons.evaluate_all("(ps) => ps.map((p) => p.dataset.grid)"))
    assert shown == mine  # only the street's grids, as the server chose them

    grid = stack.grid_id
    assert grid in mine
    shape = page.locator(f'#map polygon[data-grid="{grid}"]')
    before = int(await shape.get_attribute("data-open") or 0)
    published = time.monotonic()
    case_id = await _report_to_verify(stack)
    deadline = published + 10
    while int(await shape.get_attribute("data-open") or 0) <= before:
        assert time.monotonic() < deadline, "the new case never reached the map"
        await asyncio.sleep(0.1)
    seen_after = time.monotonic() - published
    assert seen_after < 5  # the worker's processing and the console's 1 s poll, no reload
    assert await _state(stack, case_id) == "VERIFYING"

    await page.screenshot(path=screenshot_path(tmp_path, "console-map.png"))
    await shape.click()
    panel = page.locator("#panel")
    await panel.get_by_text("待核实").first.wait_for()
    assert "网格员" in await panel.inner_text()  # the grid's workers, alerts and assessment
    assert "今日考核" in await panel.inner_text()
    await panel.locator("a").first.click()
    await page.get_by_role("button", name="核实通过").wait_for()
    assert "待核实" in await page.locator("#case-state").inner_text()
    await page.get_by_role("button", name="核实通过").click()
    await page.get_by_text("操作已生效").wait_for(timeout=20_000)
    assert "已派遣" in await page.locator("#case-state").inner_text()
    assert await _state(stack, case_id) == "DISPATCHED"
    await page.screenshot(path=screenshot_path(tmp_path, "console-case.png"), full_page=True)


class Session:
    """A signed-in console session without a browser: the server's own checks."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.url = stack.api.url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        form = urllib.parse.urlencode({"operator_id": name, "password": PASSWORD}).encode()
        self.opener.open(f"{self.url}/console/login", form, timeout=10)

    def status(self, path: str, form: dict[str, str] | None = None) -> int:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.url + path, data, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def text(self, path: str) -> str:
        with self.opener.open(self.url + path, timeout=10) as answer:
            return str(answer.read().decode())


def test_scope_is_enforced_by_the_server(stack: Stack, streets: tuple[str, set[str], str]) -> None:
    _, mine, other_grid = streets

    async def cases_of(grid_id: str) -> list[str]:
        connection = await asyncpg.connect(stack.endpoints.database_url)
        try:
            rows = await connection.fetch("SELECT case_code FROM cases WHERE grid_id = $1", grid_id)
            return [r["case_code"] for r in rows]
        finally:
            await connection.close()

    async def outside() -> str:
        case_id, _ = await stack.driver.report(stack.other_street_light(other_grid), "路灯不亮")
        connection = await asyncpg.connect(stack.endpoints.database_url)
        try:
            return str(
                await connection.fetchval("SELECT case_code FROM cases WHERE case_id = $1", case_id)
            )
        finally:
            await connection.close()

    foreign = asyncio.run(outside())
    session = Session(stack, "street-duty")
    assert session.status(f"/console/cases/{foreign}") == 404
    assert foreign not in session.text("/console/cases")
    grids = session.text("/console/api/grids")
    assert other_grid not in grids
    assert session.status(f"/console/api/grids/{other_grid}") == 404
    assert all(grid in grids for grid in mine)
    own = asyncio.run(cases_of(stack.grid_id))[0]
    assert session.status(f"/console/cases/{own}") == 200
    # an action on a case outside the scope is refused before anything is published
    csrf = session.text(f"/console/cases/{own}").split('name="csrf" value="')[1].split('"')[0]
    assert (
        session.status(
            f"/console/cases/{foreign}/actions", {"action": "cancel", "note": "x", "csrf": csrf}
        )
        == 404
    )
    # and one without the page's CSRF token is refused too
    assert (
        session.status(
            f"/console/cases/{own}/actions", {"action": "cancel", "note": "x", "csrf": "forged"}
        )
        == 403
    )
    # signed out, nothing
    assert Session(stack, "nobody").status("/console/api/grids") == 401


def test_assessment_board_and_csv(stack: Stack, streets: tuple[str, set[str], str]) -> None:
    session = Session(stack, "street-duty")
    assert "考核排名" in session.text("/console/assessment")
    csv = session.text("/console/assessment?format=csv")
    assert csv.splitlines()[0] == "kind,subject,grid,score,grade"


async def test_views_of_cases_are_audited(stack: Stack) -> None:
    connection = await asyncpg.connect(stack.endpoints.database_url)
    try:
        views = await connection.fetchval(
            "SELECT count(*) FROM console_audit WHERE what = 'view_case'"
            " AND operator_id = 'street-duty'"
        )
    finally:
        await connection.close()
    assert views >= 2
