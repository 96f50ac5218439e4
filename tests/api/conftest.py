"""One stack for the HTTP tests: a broker, a database, the demo city, a worker and the API;
and Debian's Chromium, headless, driven by Playwright, for the pages."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from civicgrid.embedded.stack import Endpoints
from tests.support.api import ApiProcess
from tests.support.cases import Driver
from tests.support.stack import fresh_stack
from tools.city.generate import generate_city
from tools.city.model import City
from tools.city.publish import publish_city
from tools.workerproc import WorkerProcess

KEY = "test-key-0123456789abcdef"


@dataclass
class Stack:
    endpoints: Endpoints
    api: ApiProcess
    api_key: str
    second_key: str  # for tests that must not share the first key's rate limit
    driver: Driver
    street_lights: list[str]
    disputed_place: str  # a doorplate, for a non-public neighbour dispute
    centre: tuple[float, float]  # (lat, lon) inside the first grid
    grid_id: str  # the first grid, where the codes above are
    city: City

    def other_street_light(self, grid_id: str) -> str:
        return next(c.code for c in self.city.iter_codes([grid_id]) if c.kind == "street_light")


@pytest.fixture(scope="package")
def stack(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("open311")
    with fresh_stack(postgres_server, base) as endpoints:
        city = generate_city("demo", 7)
        asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
        env = {"CIVICGRID_PSEUDONYM_KEY": KEY}
        worker = WorkerProcess(endpoints, base / "worker", base / "worker.log", env).start()
        api = ApiProcess(endpoints, base / "api", base / "api.log", env).start()
        try:
            keys = [_create_key(endpoints, name, env) for name in ("partner-app", "resident-app")]
            worker.wait_ready()
            api.wait_ready()
            grid = city.grids[0]
            codes = list(city.iter_codes([grid.grid_id]))
            yield Stack(
                endpoints,
                api,
                keys[0],
                keys[1],
                Driver(endpoints.kafka_bootstrap, endpoints.database_url),
                [c.code for c in codes if c.kind == "street_light"],
                next(c.code for c in codes if c.kind == "doorplate"),
                (grid.centre[1], grid.centre[0]),
                grid.grid_id,
                city,
            )
        finally:
            api.stop()
            worker.stop()


def _create_key(endpoints: Endpoints, name: str, env: dict[str, str]) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "civicgrid", "apikey", "create", name],
        env={**os.environ, **endpoints.environment(), **env},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return created.stdout.decode().strip()


def case_for(stack: Stack, token: str, wait_s: float = 30.0) -> str:
    """The service_request_id of a POST's token, once the stream has opened the case."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        answer = stack.api.get(f"/open311/v2/tokens/{token}.json")
        assert answer.status == 200, answer.text
        found = answer.json()[0].get("service_request_id")
        if found:
            return str(found)
        time.sleep(0.2)
    raise AssertionError(f"token {token} gave no service_request_id within {wait_s} s")


CHROMIUM = "/usr/bin/chromium"
# as this machine's probe starts it: no sandbox as root, nothing reaching out to the network
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _installed() -> bool:
    return Path(CHROMIUM).exists()


def screenshot_path(tmp_path: Path, name: str) -> str:
    """Under tmp_path; SCREENSHOTS_DIR=docs/images keeps them for the docs instead."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR", tmp_path))
    return str(folder / name)


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert _installed(), "make test installs Debian's chromium (scripts/ensure-chromium.sh)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()
